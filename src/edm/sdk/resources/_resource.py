"""The base of every resource: the request building its generated methods share.

The resource modules are generated from the API manifest (``python -m
edm.codegen``), and each of their methods is a path plus the model to read
the response into (``cast_to``)::

    def get(self, account_id: str, *, extra_headers=None, timeout=NOT_GIVEN) -> Account:
        return self._get(build_path(ITEM_PATH, account_id=account_id), cast_to=Account, ...)

Everything else is here, once, for every resource:

- path parameters are checked (a non-empty string) and percent-quoted;
- ``if_version=n`` becomes ``If-Match: "n"`` (``extra_headers`` win over it);
- a body keeps only the arguments the caller gave (``NOT_GIVEN`` is dropped,
  ``None`` is sent: it clears);
- a ``PATCH`` is a JSON Merge Patch (``application/merge-patch+json``);
- a ``POST`` (create, restore) carries one ``Idempotency-Key``, the caller's or
  a fresh uuid4, fixed before the first attempt so every retry reuses it;
- a list (and a record's history) returns a ``SyncPage`` / ``AsyncPaginator``
  that fetches the next pages with the same arguments and the page's
  ``next_cursor``;
- a change feed returns an ``EventStream`` / ``AsyncEventStream`` that reads
  on from each page's ``next_cursor`` (and, following, waits and asks again);
- ``as_of=`` is sent as RFC 3339 in UTC (a naive datetime is refused).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from edm.sdk._base_client import RequestOptions, new_idempotency_key
from edm.sdk._query import encode_value, list_params
from edm.sdk._types import NOT_GIVEN, DateTimeInput, NotGiven, Timeout
from edm.sdk.pagination import AsyncEventStream, AsyncPage, AsyncPaginator, EventPage, EventStream, SyncPage

if TYPE_CHECKING:
    from edm.sdk._base_client import AsyncAPIClient, SyncAPIClient

__all__ = ["SyncAPIResource", "AsyncAPIResource", "build_path", "get_query", "MERGE_PATCH"]

MERGE_PATCH = "application/merge-patch+json"

ModelT = TypeVar("ModelT", bound=BaseModel)
Query = Mapping[str, str]


def build_path(template: str, **params: str) -> str:
    """``build_path("/x/{account_id}", account_id="acc 1")`` → ``/x/acc%201``; an empty or non-string id is refused."""
    for name, value in params.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"expected a non-empty {name.replace('_', ' ')}, got {value!r}")
    return template.format(**{name: quote(value, safe="") for name, value in params.items()})


def get_query(*, include_deleted: bool = False, as_of: DateTimeInput | None = None) -> dict[str, str] | None:
    """The query of ``get``: ``include_deleted=true`` and ``as_of`` when given, else none at all."""
    query: dict[str, str] = {}
    if include_deleted:
        query["include_deleted"] = "true"
    if as_of is not None:
        if isinstance(as_of, datetime) and as_of.tzinfo is None:
            raise ValueError(f"as_of {as_of.isoformat()} has no timezone; pass an aware datetime (tzinfo=timezone.utc)")
        if not isinstance(as_of, (datetime, str)) or not as_of:
            raise ValueError(f"as_of must be an aware datetime or an RFC 3339 string, not {as_of!r}")
        query["as_of"] = encode_value(as_of)
    return query or None


# --------------------------------------------------------------------------- shared, no I/O


def _headers(extra_headers: Mapping[str, str] | None, if_version: int | None = None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if if_version is not None:
        headers["If-Match"] = f'"{int(if_version)}"'
    headers.update(extra_headers or {})
    return headers


def _given(body: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments the caller gave (``None`` included: it clears)."""
    return {name: value for name, value in body.items() if value is not NOT_GIVEN}


def _query(query: Query | None) -> list[tuple[str, str]] | None:
    return list(query.items()) if query else None


def _get_options(
    path: str, query: Query | None, extra_headers: Mapping[str, str] | None, timeout: Timeout | NotGiven
) -> RequestOptions:
    return RequestOptions("GET", path, params=_query(query), headers=_headers(extra_headers), timeout=timeout)


def _list_options(
    path: str,
    params: Mapping[str, Any],
    cursor: str | None,
    query: Query | None,
    extra_headers: Mapping[str, str] | None,
    timeout: Timeout | NotGiven,
) -> RequestOptions:
    return RequestOptions(
        "GET",
        path,
        params=[*(_query(query) or []), *list_params(cursor=cursor, **params)],
        headers=_headers(extra_headers),
        timeout=timeout,
    )


def _page_options(
    path: str,
    params: Mapping[str, Any],
    cursor: tuple[str, str | None],
    extra_headers: Mapping[str, str] | None,
    timeout: Timeout | NotGiven,
) -> RequestOptions:
    """A page of a history or a feed: the parameters given, and the cursor under its name (``cursor``, ``after``)."""
    given = {**params, cursor[0]: cursor[1]}
    query = [(name, encode_value(value)) for name, value in given.items() if value is not None]
    return RequestOptions("GET", path, params=query, headers=_headers(extra_headers), timeout=timeout)


def _post_options(
    path: str,
    body: Mapping[str, Any] | NotGiven,
    query: Query | None,
    idempotency_key: str | None,
    if_version: int | None,
    extra_headers: Mapping[str, str] | None,
    timeout: Timeout | NotGiven,
) -> RequestOptions:
    return RequestOptions(
        "POST",
        path,
        params=_query(query),
        json_body=NOT_GIVEN if isinstance(body, NotGiven) else _given(body),
        idempotency_key=idempotency_key or new_idempotency_key(),
        headers=_headers(extra_headers, if_version),
        timeout=timeout,
    )


def _patch_options(
    path: str,
    body: Mapping[str, Any],
    query: Query | None,
    if_version: int | None,
    extra_headers: Mapping[str, str] | None,
    timeout: Timeout | NotGiven,
) -> RequestOptions:
    return RequestOptions(
        "PATCH",
        path,
        params=_query(query),
        json_body=_given(body),
        content_type=MERGE_PATCH,
        headers=_headers(extra_headers, if_version),
        timeout=timeout,
    )


def _delete_options(
    path: str,
    query: Query | None,
    if_version: int | None,
    extra_headers: Mapping[str, str] | None,
    timeout: Timeout | NotGiven,
) -> RequestOptions:
    return RequestOptions(
        "DELETE", path, params=_query(query), headers=_headers(extra_headers, if_version), timeout=timeout
    )


def _cast(response: httpx.Response, cast_to: type[ModelT]) -> ModelT:
    return cast_to.model_validate(response.json())


def _page_fields(response: httpx.Response, model: type[ModelT]) -> dict[str, Any]:
    body = response.json()
    return {
        "data": [model.model_validate(record) for record in body["data"]],
        "has_more": bool(body.get("has_more")),
        "next_cursor": body.get("next_cursor"),
        "total": body.get("total"),
    }


def _event_page(response: httpx.Response, model: type[ModelT]) -> EventPage[ModelT]:
    body = response.json()
    return EventPage(
        data=[model.model_validate(event) for event in body["data"]],
        has_more=bool(body.get("has_more")),
        next_cursor=body["next_cursor"],
    )


# --------------------------------------------------------------------------- sync


class SyncAPIResource:
    """A resource of a ``Client``: sends through it."""

    def __init__(self, client: SyncAPIClient) -> None:
        self._client = client

    def _get(
        self,
        path: str,
        *,
        cast_to: type[ModelT],
        query: Query | None = None,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | NotGiven,
    ) -> ModelT:
        return _cast(self._client.request(_get_options(path, query, extra_headers, timeout)), cast_to)

    def _get_api_list(
        self,
        path: str,
        *,
        model: type[ModelT],
        params: Mapping[str, Any],
        cursor: str | None,
        query: Query | None = None,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | NotGiven,
    ) -> SyncPage[ModelT]:
        def fetch(page_cursor: str | None) -> SyncPage[ModelT]:
            response = self._client.request(_list_options(path, params, page_cursor, query, extra_headers, timeout))
            return SyncPage(fetch=fetch, **_page_fields(response, model))

        return fetch(cursor)

    def _get_api_page(
        self,
        path: str,
        *,
        model: type[ModelT],
        params: Mapping[str, Any],
        cursor: str | None,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | NotGiven,
    ) -> SyncPage[ModelT]:
        def fetch(page_cursor: str | None) -> SyncPage[ModelT]:
            options = _page_options(path, params, ("cursor", page_cursor), extra_headers, timeout)
            return SyncPage(fetch=fetch, **_page_fields(self._client.request(options), model))

        return fetch(cursor)

    def _get_api_events(
        self,
        path: str,
        *,
        model: type[ModelT],
        after: str | None,
        limit: int | None,
        follow: bool,
        interval: float,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | NotGiven,
    ) -> EventStream[ModelT]:
        def fetch(cursor: str | None) -> EventPage[ModelT]:
            options = _page_options(path, {"limit": limit}, ("after", cursor), extra_headers, timeout)
            return _event_page(self._client.request(options), model)

        return EventStream(fetch=fetch, after=after, follow=follow, interval=interval)

    def _post(
        self,
        path: str,
        *,
        cast_to: type[ModelT],
        body: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        query: Query | None = None,
        idempotency_key: str | None = None,
        if_version: int | None = None,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | NotGiven,
    ) -> ModelT:
        options = _post_options(path, body, query, idempotency_key, if_version, extra_headers, timeout)
        return _cast(self._client.request(options), cast_to)

    def _patch(
        self,
        path: str,
        *,
        cast_to: type[ModelT],
        body: Mapping[str, Any],
        query: Query | None = None,
        if_version: int | None = None,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | NotGiven,
    ) -> ModelT:
        options = _patch_options(path, body, query, if_version, extra_headers, timeout)
        return _cast(self._client.request(options), cast_to)

    def _delete(
        self,
        path: str,
        *,
        query: Query | None = None,
        if_version: int | None = None,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | NotGiven,
    ) -> None:
        self._client.request(_delete_options(path, query, if_version, extra_headers, timeout))


# --------------------------------------------------------------------------- async


class AsyncAPIResource:
    """A resource of an ``AsyncClient``: the same as ``SyncAPIResource``, awaited."""

    def __init__(self, client: AsyncAPIClient) -> None:
        self._client = client

    async def _get(
        self,
        path: str,
        *,
        cast_to: type[ModelT],
        query: Query | None = None,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | NotGiven,
    ) -> ModelT:
        return _cast(await self._client.request(_get_options(path, query, extra_headers, timeout)), cast_to)

    def _get_api_list(
        self,
        path: str,
        *,
        model: type[ModelT],
        params: Mapping[str, Any],
        cursor: str | None,
        query: Query | None = None,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | NotGiven,
    ) -> AsyncPaginator[ModelT]:
        async def fetch(page_cursor: str | None) -> AsyncPage[ModelT]:
            response = await self._client.request(
                _list_options(path, params, page_cursor, query, extra_headers, timeout)
            )
            return AsyncPage(fetch=fetch, **_page_fields(response, model))

        return AsyncPaginator(lambda: fetch(cursor))

    def _get_api_page(
        self,
        path: str,
        *,
        model: type[ModelT],
        params: Mapping[str, Any],
        cursor: str | None,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | NotGiven,
    ) -> AsyncPaginator[ModelT]:
        async def fetch(page_cursor: str | None) -> AsyncPage[ModelT]:
            options = _page_options(path, params, ("cursor", page_cursor), extra_headers, timeout)
            return AsyncPage(fetch=fetch, **_page_fields(await self._client.request(options), model))

        return AsyncPaginator(lambda: fetch(cursor))

    def _get_api_events(
        self,
        path: str,
        *,
        model: type[ModelT],
        after: str | None,
        limit: int | None,
        follow: bool,
        interval: float,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | NotGiven,
    ) -> AsyncEventStream[ModelT]:
        async def fetch(cursor: str | None) -> EventPage[ModelT]:
            options = _page_options(path, {"limit": limit}, ("after", cursor), extra_headers, timeout)
            return _event_page(await self._client.request(options), model)

        return AsyncEventStream(fetch=fetch, after=after, follow=follow, interval=interval)

    async def _post(
        self,
        path: str,
        *,
        cast_to: type[ModelT],
        body: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        query: Query | None = None,
        idempotency_key: str | None = None,
        if_version: int | None = None,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | NotGiven,
    ) -> ModelT:
        options = _post_options(path, body, query, idempotency_key, if_version, extra_headers, timeout)
        return _cast(await self._client.request(options), cast_to)

    async def _patch(
        self,
        path: str,
        *,
        cast_to: type[ModelT],
        body: Mapping[str, Any],
        query: Query | None = None,
        if_version: int | None = None,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | NotGiven,
    ) -> ModelT:
        options = _patch_options(path, body, query, if_version, extra_headers, timeout)
        return _cast(await self._client.request(options), cast_to)

    async def _delete(
        self,
        path: str,
        *,
        query: Query | None = None,
        if_version: int | None = None,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeout | NotGiven,
    ) -> None:
        await self._client.request(_delete_options(path, query, if_version, extra_headers, timeout))
