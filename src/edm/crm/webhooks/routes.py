"""HTTP for webhook endpoints: subscribe, list, get, delete, the delivery log and replay (``crm.admin`` only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from edm.crm.engine.resource import ADMIN_SCOPE
from edm.crm.webhooks import service
from edm.kit.auth import Caller
from edm.kit.errors import Conflict, FieldError, InvalidParameter
from edm.kit.jsonbody import JSON, read_json_object
from edm.kit.web.request import database, settings
from edm.kit.web.routing import Route

__all__ = ["webhook_routes", "PATH"]

PATH = "/api/v1/crm/webhooks"
ITEM = PATH + "/{endpoint_id}"
DELIVERIES = ITEM + "/deliveries"
REPLAY = DELIVERIES + "/{delivery_id}/replay"
DEFAULT_LIMIT, MAX_LIMIT = 20, 100


def _json(value: Any, status: int = 200, **headers: str) -> Response:
    return Response(orjson.dumps(value), status_code=status, media_type="application/json", headers=headers)


def _page(data: list[dict[str, Any]], has_more: bool, next_cursor: str | None) -> Response:
    return _json({"object": "list", "data": data, "has_more": has_more, "next_cursor": next_cursor})


def _list_params(request: Request) -> tuple[int, str | None]:
    limit, cursor = DEFAULT_LIMIT, None
    for name, value in request.query_params.multi_items():
        if name == "limit":
            if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
                message = f"must be a whole number from 1 to {MAX_LIMIT}"
                raise InvalidParameter(f"limit {message}", errors=[FieldError("limit", message)])
            limit = int(value)
        elif name == "cursor":
            cursor = value
        else:
            raise InvalidParameter(f"{name}: is not a known query parameter", errors=[FieldError(name, "is not known")])
    return limit, cursor


def webhook_routes(nouns: Iterable[str]) -> tuple[Route, ...]:
    """The webhook routes; ``nouns`` are the record engine's resources, whose events may be subscribed to."""
    known_types = service.event_types(nouns)

    async def create(request: Request, caller: Caller) -> Response:
        config = settings(request)
        body = await read_json_object(request, JSON)
        subscription = service.validate_body(body, known_types, allow_private=config.webhooks_allow_private)
        await service.check_resolves_publicly(subscription["url"], allow_private=config.webhooks_allow_private)
        async with database(request).write(caller.tenant_id) as conn:
            row = await service.create_endpoint(conn, caller, subscription)
        return _json(service.endpoint_json(row, secret=True), 201, Location=f"{PATH}/{row['id']}")

    async def list_(request: Request, caller: Caller) -> Response:
        if request.query_params:
            raise InvalidParameter("this list takes no query parameters")
        async with database(request).read(caller.tenant_id) as conn:
            rows = await service.list_endpoints(conn, caller)
        return _page([service.endpoint_json(row) for row in rows], False, None)

    async def get(request: Request, caller: Caller, endpoint_id: str) -> Response:
        async with database(request).read(caller.tenant_id) as conn:
            row = await service.get_endpoint(conn, caller, endpoint_id)
        return _json(service.endpoint_json(row))

    async def delete(request: Request, caller: Caller, endpoint_id: str) -> Response:
        async with database(request).write(caller.tenant_id) as conn:
            await service.delete_endpoint(conn, caller, endpoint_id)
        return Response(status_code=204)

    async def deliveries(request: Request, caller: Caller, endpoint_id: str) -> Response:
        limit, after = _list_params(request)
        async with database(request).read(caller.tenant_id) as conn:
            rows, has_more = await service.list_deliveries(conn, caller, endpoint_id, limit=limit, after=after)
        next_cursor = rows[-1]["id"] if has_more else None
        return _page([service.delivery_json(row) for row in rows], has_more, next_cursor)

    async def replay(request: Request, caller: Caller, endpoint_id: str, delivery_id: str) -> Response:
        async with database(request).write(caller.tenant_id) as conn:
            endpoint = await service.get_endpoint(conn, caller, endpoint_id)
            if endpoint["status"] != "enabled":
                raise Conflict(f"webhook endpoint {endpoint_id} is disabled: {endpoint['disabled_reason']}")
            row = await service.replay_delivery(conn, caller, endpoint_id, delivery_id)
        return _json(service.delivery_json(row), 202)

    admin = (ADMIN_SCOPE,)
    return (
        Route("POST", PATH, create, scopes=admin),
        Route("GET", PATH, list_, scopes=admin),
        Route("GET", ITEM, get, scopes=admin),
        Route("DELETE", ITEM, delete, scopes=admin),
        Route("GET", DELIVERIES, deliveries, scopes=admin),
        Route("POST", REPLAY, replay, scopes=admin),
    )
