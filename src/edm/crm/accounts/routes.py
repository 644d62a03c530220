"""HTTP for accounts: parse, call the service in one transaction, answer.

Business rules live in ``service``; SQL in ``repository``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from edm.crm.accounts import service
from edm.crm.accounts.auth import ADMIN_SCOPE, READ_SCOPE, WRITE_SCOPE
from edm.crm.accounts.listing import parse_list_query
from edm.crm.accounts.render import page_json, record_json
from edm.kit.auth import Caller
from edm.kit.db import Connection
from edm.kit.errors import FieldError, InvalidParameter
from edm.kit.jsonbody import JSON, JSON_OR_MERGE_PATCH, read_json_object
from edm.kit.preconditions import etag, parse_condition
from edm.server.deps import database, settings
from edm.server.idempotent import run_idempotent
from edm.server.routing import Route

__all__ = ["ROUTES", "PREFIX"]

PREFIX = "/api/v1/crm/accounts"


def _account(row, status: int = 200, **headers: str) -> Response:  # type: ignore[no-untyped-def]
    return Response(
        record_json(row),
        status_code=status,
        media_type="application/json",
        headers={"ETag": etag(row["version"]), **headers},
    )


async def list_accounts(request: Request, caller: Caller) -> Response:
    query = parse_list_query(request.query_params.multi_items())
    async with database(request).read() as conn:
        page = await service.list_accounts(conn, caller, query, request.app.state.cursor_signer)
    body = page_json(page.rows, page.has_more, page.next_cursor, page.total, query.fields)
    return Response(body, media_type="application/json")


async def create_account(request: Request, caller: Caller) -> Response:
    body = await read_json_object(request, JSON)

    async def effect(conn: Connection) -> tuple[Response, str]:
        row = await service.create(conn, caller, body)
        return _account(row, 201, Location=f"{PREFIX}/{row['id']}"), row["id"]

    return await run_idempotent(request, caller, f"POST {PREFIX}", body, effect)


async def restore_account(request: Request, caller: Caller, account_id: str) -> Response:
    if_match = parse_condition(request.headers.get("if-match"), "If-Match")

    async def effect(conn: Connection) -> tuple[Response, str]:
        row = await service.restore(
            conn, caller, account_id, if_match=if_match, require_precondition=settings(request).require_if_match
        )
        return _account(row), row["id"]

    return await run_idempotent(request, caller, f"POST {PREFIX}/{{id}}/restore", None, effect)


async def get_account(request: Request, caller: Caller, account_id: str) -> Response:
    if_none_match = parse_condition(request.headers.get("if-none-match"), "If-None-Match")
    async with database(request).read() as conn:
        row = await service.get(conn, caller, account_id)
    if if_none_match is not None and if_none_match.matches_weak(row["version"]):
        return Response(status_code=304, headers={"ETag": etag(row["version"])})
    return _account(row)


async def update_account(request: Request, caller: Caller, account_id: str) -> Response:
    if_match = parse_condition(request.headers.get("if-match"), "If-Match")
    body = await read_json_object(request, JSON_OR_MERGE_PATCH)
    async with database(request).write() as conn:
        row = await service.update(
            conn,
            caller,
            account_id,
            body,
            if_match=if_match,
            require_precondition=settings(request).require_if_match,
        )
    return _account(row)


async def delete_account(request: Request, caller: Caller, account_id: str) -> Response:
    purge = _purge_flag(request)
    caller.require(ADMIN_SCOPE if purge else WRITE_SCOPE)
    if_match = parse_condition(request.headers.get("if-match"), "If-Match")
    operation = service.purge if purge else service.delete
    async with database(request).write() as conn:
        await operation(
            conn, caller, account_id, if_match=if_match, require_precondition=settings(request).require_if_match
        )
    return Response(status_code=204)


def _purge_flag(request: Request) -> bool:
    """``?purge=true`` makes a delete an erasure; no other parameter is taken."""
    for name, value in request.query_params.multi_items():
        if name != "purge" or value not in ("true", "false") or len(request.query_params.getlist("purge")) > 1:
            message = "only purge=true|false is accepted" if name == "purge" else "is not a known query parameter"
            raise InvalidParameter(f"{name}: {message}", errors=[FieldError(name, message)])
    return request.query_params.get("purge") == "true"


ROUTES = (
    Route("GET", PREFIX, list_accounts, (READ_SCOPE,)),
    Route("POST", PREFIX, create_account, (WRITE_SCOPE,)),
    Route("GET", PREFIX + "/{account_id}", get_account, (READ_SCOPE,)),
    Route("PATCH", PREFIX + "/{account_id}", update_account, (WRITE_SCOPE,)),
    Route("DELETE", PREFIX + "/{account_id}", delete_account),  # write, or admin for a purge: it checks
    Route("POST", PREFIX + "/{account_id}/restore", restore_account, (WRITE_SCOPE,)),
)
