"""Unfiltered ``include_total`` reads counters that triggers keep; they must equal the rows at every step.

The expected numbers are computed here from what the test did, never read
back from the service.  ``limit=1`` keeps every page short of the whole set,
so the service cannot answer with the length of the page.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from edm.kit.migrate import upgrade
from edm.kit.settings import Settings, database_url_for_driver
from tests.conftest import ACCOUNTS, SECRET, Api, scratch_postgres_database


def total(caller: Api, **params: str) -> int:
    response = caller.request("GET", ACCOUNTS, params={"include_total": "true", "limit": "1", **params})
    assert response.status_code == 200, response.text
    return response.json()["total"]


class Ledger:
    """What the test has written: id -> [app, deleted]."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Any]] = {}

    def count(self, app: str | None, *, include_deleted: bool = False) -> int:
        return sum(1 for a, deleted in self.rows.values() if (app is None or a == app) and (include_deleted or not deleted))


def test_unfiltered_totals_follow_every_kind_of_write(api: Api) -> None:
    callers = {None: api, "app-a": api.as_(app="app-a"), "app-b": api.as_(app="app-b")}
    admins = {app: api.as_(scope="crm.admin", **({"app": app} if app else {})) for app in callers}
    ledger = Ledger()

    def check() -> None:
        for app, caller in callers.items():
            assert total(caller) == ledger.count(app), app
            assert total(caller, include_deleted="true") == ledger.count(app, include_deleted=True), app

    check()  # a tenant nobody has written to
    for app, n in ((None, 3), ("app-a", 4), ("app-b", 2)):
        for _ in range(n):
            ledger.rows[callers[app].created({"name": f"by {app}"})["id"]] = [app, False]
    check()
    ids = {app: [i for i, (a, _) in ledger.rows.items() if a == app] for app in callers}

    for app, account_id in ((None, ids[None][0]), ("app-a", ids["app-a"][0]), ("app-a", ids["app-a"][1])):
        assert callers[app].delete(account_id).status_code == 204
        ledger.rows[account_id][1] = True
    check()
    assert callers["app-a"].delete(ids["app-a"][0]).status_code == 404  # deleting again changes nothing
    check()

    restored = callers["app-a"].request("POST", f"{ACCOUNTS}/{ids['app-a'][0]}/restore")
    assert restored.status_code == 200, restored.text
    ledger.rows[ids["app-a"][0]][1] = False
    check()

    patched = callers["app-b"].request("PATCH", f"{ACCOUNTS}/{ids['app-b'][0]}", json={"industry": "Retail"})
    assert patched.status_code == 200  # an update that does not delete changes no count
    check()

    for app, account_id in (("app-a", ids["app-a"][1]), (None, ids[None][1])):  # one deleted, one live
        purged = admins[app].request("DELETE", f"{ACCOUNTS}/{account_id}", params={"purge": "true"})
        assert purged.status_code == 204, purged.text
        del ledger.rows[account_id]
    check()

    stranger = api.as_(tenant=f"tenant-{uuid.uuid4().hex[:12]}")
    assert total(stranger) == 0 and total(stranger, include_deleted="true") == 0


def test_filtered_totals_count_rows(api: Api) -> None:
    for n in range(3):
        api.created({"name": f"r{n}", "industry": "Retail" if n else "Energy"})
    assert total(api) == 3
    assert total(api, **{"filter[industry]": "Retail"}) == 2
    assert total(api, q="r1") == 1
    assert total(api, **{"filter[is_deleted]": "true", "include_deleted": "true"}) == 0


def test_a_first_page_holding_every_match_carries_its_total(api: Api) -> None:
    for n in range(3):
        api.created({"name": f"r{n}"})
    body = api.request("GET", ACCOUNTS, params={"include_total": "true"}).json()
    assert body["total"] == 3 and len(body["data"]) == 3 and body["next_cursor"] is None


# --------------------------------------------------------------------------- the migration


async def _sql(url: str, statements: list[str]) -> list[Any]:
    engine = create_async_engine(database_url_for_driver(url))
    try:
        async with engine.begin() as conn:
            results = [await conn.execute(sa.text(s)) for s in statements]
            return [r.all() if r.returns_rows else None for r in results]
    finally:
        await engine.dispose()


_INSERT = (
    "INSERT INTO accounts (id, tenant_id, app_id, name, name_key, is_deleted, created_at, updated_at, created_by, updated_by,"
    " source, source_type, schema_version, version, addresses, tags, custom_fields) VALUES ('acc_{n}', '{tenant}', {app},"
    " 'n', 'n', {deleted}, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'u', 'u', 'test', 'system', 1, 1, '[]', '[]', '{{}}')"
)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_counts_the_rows_already_there_and_emptying_the_table_empties_them(backend: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'edm.sqlite3'}"
        else:
            url = stack.enter_context(scratch_postgres_database())
        settings = Settings(database_url=url, jwt_secret=SECRET)
        upgrade(settings, "2026_11_27_1100")
        rows = [("t1", "NULL", "false")] * 3 + [("t1", "'a'", "false"), ("t1", "'a'", "true"), ("t2", "NULL", "true")]
        asyncio.run(_sql(url, [_INSERT.format(n=n, tenant=t, app=a, deleted=d) for n, (t, a, d) in enumerate(rows)]))
        upgrade(settings)
        [counted] = asyncio.run(_sql(url, [
            "SELECT tenant_id, app_key, is_deleted, sum(n) FROM account_counts GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ]))
        assert [tuple(r) for r in counted] == [("t1", "", False, 3), ("t1", "a", False, 1), ("t1", "a", True, 1), ("t2", "", True, 1)]
        emptied = "TRUNCATE accounts" if backend == "postgresql" else "DELETE FROM accounts"
        [_, left] = asyncio.run(_sql(url, [emptied, "SELECT count(*) FROM account_counts WHERE n <> 0"]))
        assert left == [(0,)]
