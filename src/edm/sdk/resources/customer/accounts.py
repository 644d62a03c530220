"""``client.customer.accounts``: list, get, create, update, delete, restore, purge.

Every method has one shape: the account id positional, everything else
keyword-only, and per call ``extra_headers=`` and ``timeout=``::

    account = client.customer.accounts.create(name="Globex", domain="globex.example", tags=["b2b"])
    account = client.customer.accounts.update(account.id, industry="Manufacturing", if_version=account.version)
    client.customer.accounts.delete(account.id)

The keyword arguments of ``create`` and ``update`` are exactly the
client-writable fields of the field table (a test keeps them in step).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Optional, Union
from urllib.parse import quote

import httpx

from edm.crm.accounts.fields import CLIENT_FIELDS
from edm.sdk._base_client import RequestOptions, new_idempotency_key
from edm.sdk._query import list_params
from edm.sdk._types import NOT_GIVEN, NotGiven, Timeout
from edm.sdk.models import Account, Address, AddressParam, SourceType
from edm.sdk.pagination import AsyncPage, AsyncPaginator, SyncPage
from edm.sdk.resources._resource import AsyncAPIResource, SyncAPIResource

__all__ = ["Accounts", "AsyncAccounts", "PATH"]

PATH = "/api/v1/crm/accounts"
MERGE_PATCH = "application/merge-patch+json"
_WRITABLE = tuple(field.name for field in CLIENT_FIELDS)

DateTimeInput = Union[datetime, str]
AddressInput = Union[Address, AddressParam]


# --------------------------------------------------------------------------- shared, no I/O


def _path(account_id: str, suffix: str = "") -> str:
    if not isinstance(account_id, str) or not account_id:
        raise ValueError(f"expected a non-empty account id, got {account_id!r}")
    return f"{PATH}/{quote(account_id, safe='')}{suffix}"


def _headers(extra_headers: Mapping[str, str] | None, if_version: int | None = None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if if_version is not None:
        headers["If-Match"] = f'"{int(if_version)}"'
    headers.update(extra_headers or {})
    return headers


def _body(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The writable fields the caller gave (``None`` included: it clears)."""
    return {name: arguments[name] for name in _WRITABLE if arguments[name] is not NOT_GIVEN}


def _account(response: httpx.Response) -> Account:
    return Account.model_validate(response.json())


def _page_fields(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    return {
        "data": [Account.model_validate(record) for record in body["data"]],
        "has_more": bool(body.get("has_more")),
        "next_cursor": body.get("next_cursor"),
        "total": body.get("total"),
    }


def _list_options(params: dict[str, Any], cursor: str | None, extra_headers: Mapping[str, str] | None, timeout: Any) -> RequestOptions:
    return RequestOptions("GET", PATH, params=list_params(cursor=cursor, **params), headers=_headers(extra_headers), timeout=timeout)


def _create_options(body: dict[str, Any], idempotency_key: str | None, extra_headers: Mapping[str, str] | None, timeout: Any) -> RequestOptions:
    return RequestOptions(
        "POST",
        PATH,
        json_body=body,
        idempotency_key=idempotency_key or new_idempotency_key(),
        headers=_headers(extra_headers),
        timeout=timeout,
    )


def _update_options(account_id: str, body: dict[str, Any], if_version: int | None, extra_headers: Mapping[str, str] | None, timeout: Any) -> RequestOptions:
    return RequestOptions(
        "PATCH",
        _path(account_id),
        json_body=body,
        content_type=MERGE_PATCH,
        headers=_headers(extra_headers, if_version),
        timeout=timeout,
    )


def _delete_options(account_id: str, purge: bool, if_version: int | None, extra_headers: Mapping[str, str] | None, timeout: Any) -> RequestOptions:
    return RequestOptions(
        "DELETE",
        _path(account_id),
        params=[("purge", "true")] if purge else None,
        headers=_headers(extra_headers, if_version),
        timeout=timeout,
    )


def _restore_options(account_id: str, if_version: int | None, idempotency_key: str | None, extra_headers: Mapping[str, str] | None, timeout: Any) -> RequestOptions:
    return RequestOptions(
        "POST",
        _path(account_id, "/restore"),
        idempotency_key=idempotency_key or new_idempotency_key(),
        headers=_headers(extra_headers, if_version),
        timeout=timeout,
    )


# --------------------------------------------------------------------------- sync


class Accounts(SyncAPIResource):
    """Customer organizations (SPEC §1): ``client.customer.accounts``."""

    def list(
        self,
        *,
        limit: int | None = None,
        sort: str | Sequence[str] | None = None,
        filter: Mapping[str, Any] | None = None,
        q: str | None = None,
        fields: str | Sequence[str] | None = None,
        include_deleted: bool | None = None,
        include_total: bool | None = None,
        cursor: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> SyncPage[Account]:
        """List accounts; iterate the result to walk every page lazily.

        ``limit`` is the page size (1–200, server default 50); ``sort`` a field
        or list of fields, ``-`` for descending (default ``-created_at``);
        ``filter`` a dict, ``{"field": value}`` for equality or
        ``{"field": {"op": value}}`` with op ``eq ne gt gte lt lte in nin
        contains starts_with exists`` (``under`` on ``parent_account_id``;
        ``any``/``all`` on ``tags``); ``q`` a search term; ``fields`` a sparse
        fieldset; ``include_total`` adds ``page.total`` (counted on every page);
        ``cursor`` resumes from a page's ``next_cursor``::

            page = client.customer.accounts.list(
                limit=100,
                sort=["-annual_revenue", "name"],
                filter={"annual_revenue": {"gte": 1_000_000}, "tags": {"any": ["emea", "apac"]}},
            )
            for account in page:  # every page, fetched as needed
                print(account.name)
        """
        params = dict(limit=limit, sort=sort, filter=filter, q=q, fields=fields, include_deleted=include_deleted, include_total=include_total)

        def fetch(page_cursor: str | None) -> SyncPage[Account]:
            response = self._client.request(_list_options(params, page_cursor, extra_headers, timeout))
            return SyncPage(fetch=fetch, **_page_fields(response))

        return fetch(cursor)

    def get(self, account_id: str, *, extra_headers: Mapping[str, str] | None = None, timeout: Timeout | NotGiven = NOT_GIVEN) -> Account:
        """Fetch one live account (``NotFoundError`` when missing, deleted or not yours)::

            account = client.customer.accounts.get("acc_01J…")
        """
        return _account(self._client.request(RequestOptions("GET", _path(account_id), headers=_headers(extra_headers), timeout=timeout)))

    def create(
        self,
        *,
        name: str,
        source: Optional[str] | NotGiven = NOT_GIVEN,
        source_type: Optional[SourceType] | NotGiven = NOT_GIVEN,
        owner_id: Optional[str] | NotGiven = NOT_GIVEN,
        legal_name: Optional[str] | NotGiven = NOT_GIVEN,
        industry: Optional[str] | NotGiven = NOT_GIVEN,
        sub_industry: Optional[str] | NotGiven = NOT_GIVEN,
        lifecycle_stage: Optional[str] | NotGiven = NOT_GIVEN,
        lead_source: Optional[str] | NotGiven = NOT_GIVEN,
        health_score: Optional[str] | NotGiven = NOT_GIVEN,
        website: Optional[str] | NotGiven = NOT_GIVEN,
        domain: Optional[str] | NotGiven = NOT_GIVEN,
        phone: Optional[str] | NotGiven = NOT_GIVEN,
        addresses: Optional[Iterable[AddressInput]] | NotGiven = NOT_GIVEN,
        annual_revenue: Optional[float] | NotGiven = NOT_GIVEN,
        employee_count: Optional[int] | NotGiven = NOT_GIVEN,
        parent_account_id: Optional[str] | NotGiven = NOT_GIVEN,
        description: Optional[str] | NotGiven = NOT_GIVEN,
        last_activity_at: Optional[DateTimeInput] | NotGiven = NOT_GIVEN,
        first_contacted_at: Optional[DateTimeInput] | NotGiven = NOT_GIVEN,
        custom_fields: Optional[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        tags: Optional[Sequence[str]] | NotGiven = NOT_GIVEN,
        idempotency_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> Account:
        """Create an account; only ``name`` is required.

        One ``Idempotency-Key`` (a fresh uuid4 unless you pass
        ``idempotency_key=``) is sent with every attempt, so retries never
        create twice.  Datetimes must be timezone-aware::

            account = client.customer.accounts.create(
                name="Globex", domain="globex.example", annual_revenue=2.5e6,
                addresses=[{"type": "billing", "city": "Berlin", "country": "DE"}],
                custom_fields={"tier": "gold"},
            )
        """
        body = _body(locals())
        return _account(self._client.request(_create_options(body, idempotency_key, extra_headers, timeout)))

    def update(
        self,
        account_id: str,
        *,
        source: Optional[str] | NotGiven = NOT_GIVEN,
        source_type: Optional[SourceType] | NotGiven = NOT_GIVEN,
        owner_id: Optional[str] | NotGiven = NOT_GIVEN,
        name: str | NotGiven = NOT_GIVEN,
        legal_name: Optional[str] | NotGiven = NOT_GIVEN,
        industry: Optional[str] | NotGiven = NOT_GIVEN,
        sub_industry: Optional[str] | NotGiven = NOT_GIVEN,
        lifecycle_stage: Optional[str] | NotGiven = NOT_GIVEN,
        lead_source: Optional[str] | NotGiven = NOT_GIVEN,
        health_score: Optional[str] | NotGiven = NOT_GIVEN,
        website: Optional[str] | NotGiven = NOT_GIVEN,
        domain: Optional[str] | NotGiven = NOT_GIVEN,
        phone: Optional[str] | NotGiven = NOT_GIVEN,
        addresses: Optional[Iterable[AddressInput]] | NotGiven = NOT_GIVEN,
        annual_revenue: Optional[float] | NotGiven = NOT_GIVEN,
        employee_count: Optional[int] | NotGiven = NOT_GIVEN,
        parent_account_id: Optional[str] | NotGiven = NOT_GIVEN,
        description: Optional[str] | NotGiven = NOT_GIVEN,
        last_activity_at: Optional[DateTimeInput] | NotGiven = NOT_GIVEN,
        first_contacted_at: Optional[DateTimeInput] | NotGiven = NOT_GIVEN,
        custom_fields: Optional[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        tags: Optional[Sequence[str]] | NotGiven = NOT_GIVEN,
        if_version: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> Account:
        """Change some fields (a JSON Merge Patch); the rest are left alone.

        An argument left out is untouched; ``None`` clears the field (or
        restores its default: ``source``, ``source_type``, ``tags`` …).
        ``custom_fields`` merges key by key (a ``None`` value removes that
        key); lists replace.  ``if_version=n`` applies the change only if the
        account is still at version n, else ``PreconditionFailedError`` with
        ``current_version``::

            account = client.customer.accounts.update(
                account.id, industry=None, custom_fields={"tier": "platinum"}, if_version=account.version
            )
        """
        body = _body(locals())
        return _account(self._client.request(_update_options(account_id, body, if_version, extra_headers, timeout)))

    def delete(
        self,
        account_id: str,
        *,
        if_version: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> None:
        """Soft-delete an account; ``restore`` brings it back::

            client.customer.accounts.delete(account.id, if_version=account.version)
        """
        self._client.request(_delete_options(account_id, False, if_version, extra_headers, timeout))

    def restore(
        self,
        account_id: str,
        *,
        if_version: int | None = None,
        idempotency_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> Account:
        """Bring back a soft-deleted account (``ConflictError`` if it is live)::

            account = client.customer.accounts.restore(account.id)
        """
        return _account(self._client.request(_restore_options(account_id, if_version, idempotency_key, extra_headers, timeout)))

    def purge(
        self,
        account_id: str,
        *,
        if_version: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> None:
        """Erase an account, live or deleted, for good (needs the ``crm.admin`` scope)::

            admin.customer.accounts.purge(account.id)
        """
        self._client.request(_delete_options(account_id, True, if_version, extra_headers, timeout))


# --------------------------------------------------------------------------- async


class AsyncAccounts(AsyncAPIResource):
    """The async twin of ``Accounts``: the same methods, awaited."""

    def list(
        self,
        *,
        limit: int | None = None,
        sort: str | Sequence[str] | None = None,
        filter: Mapping[str, Any] | None = None,
        q: str | None = None,
        fields: str | Sequence[str] | None = None,
        include_deleted: bool | None = None,
        include_total: bool | None = None,
        cursor: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> AsyncPaginator[Account]:
        """List accounts: ``await`` for the first page, ``async for`` for every record (see ``Accounts.list``)::

            async for account in client.customer.accounts.list(filter={"industry": "Software"}):
                print(account.name)
        """
        params = dict(limit=limit, sort=sort, filter=filter, q=q, fields=fields, include_deleted=include_deleted, include_total=include_total)

        async def fetch(page_cursor: str | None) -> AsyncPage[Account]:
            response = await self._client.request(_list_options(params, page_cursor, extra_headers, timeout))
            return AsyncPage(fetch=fetch, **_page_fields(response))

        return AsyncPaginator(lambda: fetch(cursor))

    async def get(self, account_id: str, *, extra_headers: Mapping[str, str] | None = None, timeout: Timeout | NotGiven = NOT_GIVEN) -> Account:
        """Fetch one live account (see ``Accounts.get``)."""
        return _account(await self._client.request(RequestOptions("GET", _path(account_id), headers=_headers(extra_headers), timeout=timeout)))

    async def create(
        self,
        *,
        name: str,
        source: Optional[str] | NotGiven = NOT_GIVEN,
        source_type: Optional[SourceType] | NotGiven = NOT_GIVEN,
        owner_id: Optional[str] | NotGiven = NOT_GIVEN,
        legal_name: Optional[str] | NotGiven = NOT_GIVEN,
        industry: Optional[str] | NotGiven = NOT_GIVEN,
        sub_industry: Optional[str] | NotGiven = NOT_GIVEN,
        lifecycle_stage: Optional[str] | NotGiven = NOT_GIVEN,
        lead_source: Optional[str] | NotGiven = NOT_GIVEN,
        health_score: Optional[str] | NotGiven = NOT_GIVEN,
        website: Optional[str] | NotGiven = NOT_GIVEN,
        domain: Optional[str] | NotGiven = NOT_GIVEN,
        phone: Optional[str] | NotGiven = NOT_GIVEN,
        addresses: Optional[Iterable[AddressInput]] | NotGiven = NOT_GIVEN,
        annual_revenue: Optional[float] | NotGiven = NOT_GIVEN,
        employee_count: Optional[int] | NotGiven = NOT_GIVEN,
        parent_account_id: Optional[str] | NotGiven = NOT_GIVEN,
        description: Optional[str] | NotGiven = NOT_GIVEN,
        last_activity_at: Optional[DateTimeInput] | NotGiven = NOT_GIVEN,
        first_contacted_at: Optional[DateTimeInput] | NotGiven = NOT_GIVEN,
        custom_fields: Optional[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        tags: Optional[Sequence[str]] | NotGiven = NOT_GIVEN,
        idempotency_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> Account:
        """Create an account, one ``Idempotency-Key`` for all attempts (see ``Accounts.create``)."""
        body = _body(locals())
        return _account(await self._client.request(_create_options(body, idempotency_key, extra_headers, timeout)))

    async def update(
        self,
        account_id: str,
        *,
        source: Optional[str] | NotGiven = NOT_GIVEN,
        source_type: Optional[SourceType] | NotGiven = NOT_GIVEN,
        owner_id: Optional[str] | NotGiven = NOT_GIVEN,
        name: str | NotGiven = NOT_GIVEN,
        legal_name: Optional[str] | NotGiven = NOT_GIVEN,
        industry: Optional[str] | NotGiven = NOT_GIVEN,
        sub_industry: Optional[str] | NotGiven = NOT_GIVEN,
        lifecycle_stage: Optional[str] | NotGiven = NOT_GIVEN,
        lead_source: Optional[str] | NotGiven = NOT_GIVEN,
        health_score: Optional[str] | NotGiven = NOT_GIVEN,
        website: Optional[str] | NotGiven = NOT_GIVEN,
        domain: Optional[str] | NotGiven = NOT_GIVEN,
        phone: Optional[str] | NotGiven = NOT_GIVEN,
        addresses: Optional[Iterable[AddressInput]] | NotGiven = NOT_GIVEN,
        annual_revenue: Optional[float] | NotGiven = NOT_GIVEN,
        employee_count: Optional[int] | NotGiven = NOT_GIVEN,
        parent_account_id: Optional[str] | NotGiven = NOT_GIVEN,
        description: Optional[str] | NotGiven = NOT_GIVEN,
        last_activity_at: Optional[DateTimeInput] | NotGiven = NOT_GIVEN,
        first_contacted_at: Optional[DateTimeInput] | NotGiven = NOT_GIVEN,
        custom_fields: Optional[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        tags: Optional[Sequence[str]] | NotGiven = NOT_GIVEN,
        if_version: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> Account:
        """Merge-patch some fields: left out is untouched, ``None`` clears (see ``Accounts.update``)."""
        body = _body(locals())
        return _account(await self._client.request(_update_options(account_id, body, if_version, extra_headers, timeout)))

    async def delete(
        self,
        account_id: str,
        *,
        if_version: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> None:
        """Soft-delete an account (see ``Accounts.delete``)."""
        await self._client.request(_delete_options(account_id, False, if_version, extra_headers, timeout))

    async def restore(
        self,
        account_id: str,
        *,
        if_version: int | None = None,
        idempotency_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> Account:
        """Bring back a soft-deleted account (see ``Accounts.restore``)."""
        return _account(await self._client.request(_restore_options(account_id, if_version, idempotency_key, extra_headers, timeout)))

    async def purge(
        self,
        account_id: str,
        *,
        if_version: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> None:
        """Erase an account for good, ``crm.admin`` only (see ``Accounts.purge``)."""
        await self._client.request(_delete_options(account_id, True, if_version, extra_headers, timeout))
