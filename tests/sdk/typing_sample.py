"""How a user's code sees the SDK's types, checked and never run (it needs no server).

``tests/sdk/test_typing.py`` runs ``mypy --strict`` over this file against the
source tree, and ``tests/sdk/test_client_install.py`` against a client-only
install.  ``assert_type`` fails mypy unless the type is exactly the one named,
so a method that returned ``Any`` (as every one did before the package shipped
``py.typed``) fails the check.
"""

from __future__ import annotations

from datetime import datetime
from typing import assert_type

import edm


def sync_calls(client: edm.Client) -> list[str]:
    account = client.customer.accounts.create(name="Globex", tags=["b2b"], annual_revenue=1e6)
    assert_type(account, edm.Account)
    fetched = client.customer.accounts.get("acc_01J0000000000000000000000")
    assert_type(fetched, edm.Account)
    assert_type(fetched.name, str | None)
    assert_type(fetched.version, int | None)
    assert_type(fetched.created_at, datetime | None)
    assert_type(fetched.tags, list[str] | None)
    city: str | None = fetched.addresses[0].city if fetched.addresses else None
    updated = client.customer.accounts.update(fetched.id or "", industry=None, if_version=fetched.version)
    assert_type(updated, edm.Account)
    assert_type(client.customer.accounts.delete(updated.id or ""), None)
    assert_type(client.customer.accounts.restore(updated.id or ""), edm.Account)
    page = client.customer.accounts.list(filter={"tags": "b2b"}, sort="name", limit=10)
    assert_type(page, edm.SyncPage[edm.Account])
    assert_type(page.has_more, bool)
    assert_type(page.next_cursor, str | None)
    ids = [each.id or "" for each in page]
    assert_type(ids, list[str])
    try:
        client.with_options(max_retries=0).customer.accounts.get("acc_missing")
    except edm.NotFoundError as error:
        assert_type(error.status_code, int)
        assert_type(error.request_id, str | None)
    except edm.UnprocessableEntityError as error:
        ids += [detail.field for detail in error.errors]
    print(account.id, city)
    return ids


async def async_calls(client: edm.AsyncClient) -> list[str]:
    account = await client.customer.accounts.get("acc_01J0000000000000000000000")
    assert_type(account, edm.Account)
    first = await client.customer.accounts.list(limit=10)
    assert_type(first, edm.AsyncPage[edm.Account])
    names = [each.name or "" for each in first.data]
    async for each in client.customer.accounts.list(q="acme"):
        assert_type(each, edm.Account)
        names.append(each.name or "")
    try:
        await client.customer.accounts.update(account.id or "", name="Initech", if_version=1)
    except edm.PreconditionFailedError as error:
        assert_type(error.current_version, int | None)
    return names
