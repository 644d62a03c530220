"""HTTP for webhook endpoints: subscribe, list, get, update (re-enable), delete, the delivery log and replay (``crm.admin`` only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from edm.crm.engine.resource import ADMIN_SCOPE
from edm.crm.webhooks import openapi, service
from edm.crm.webhooks.service import PATH
from edm.kit.auth import Caller
from edm.kit.db import Connection
from edm.kit.errors import (
    Conflict,
    FieldError,
    InvalidParameter,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from edm.kit.idempotency import MAX_KEY_LENGTH, IdempotencyConflict, IdempotencyInFlight
from edm.kit.ids import parse_id
from edm.kit.jsonbody import JSON, JSON_OR_MERGE_PATCH, read_json_object
from edm.kit.web.idempotent import run_idempotent
from edm.kit.web.openapi import header_parameter, json_response, response_headers
from edm.kit.web.request import database, settings
from edm.kit.web.routing import ClientMethod, Doc, Endpoint, Route

__all__ = ["webhook_routes", "PATH"]

ITEM = PATH + "/{endpoint_id}"
DELIVERIES = ITEM + "/deliveries"
REPLAY = DELIVERIES + "/{delivery_id}/replay"
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
_IDEMPOTENCY_KEY = header_parameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": f"^[!-~]{{1,{MAX_KEY_LENGTH}}}$"},
    "Replays the first response (with the same secret) for 24 h when the same key comes with the same request; "
    "a different request is a 422, one still running a 409.",
)


def _json(value: Any, status: int = 200, **headers: str) -> Response:
    return Response(orjson.dumps(value), status_code=status, media_type="application/json", headers=headers)


def _page(data: list[dict[str, Any]], has_more: bool, next_cursor: str | None) -> Response:
    return _json({"object": "list", "data": data, "has_more": has_more, "next_cursor": next_cursor})


def _list_params(request: Request, id_prefix: str) -> tuple[int, str | None]:
    """``limit`` and ``cursor`` (the last id of the previous page); anything else is a 400 naming it."""
    limit, cursor = DEFAULT_LIMIT, None
    for name, value in request.query_params.multi_items():
        if len(request.query_params.getlist(name)) > 1:
            raise InvalidParameter(f"{name}: may be given only once", errors=[FieldError(name, "may be given only once")])
        if name == "limit":
            if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
                message = f"must be a whole number from 1 to {MAX_LIMIT}"
                raise InvalidParameter(f"limit {message}", errors=[FieldError("limit", message)])
            limit = int(value)
        elif name == "cursor":
            cursor = parse_id(id_prefix, value)
            if cursor is None:
                message = "must be the next_cursor of a previous page"
                raise InvalidParameter(f"cursor {message}", errors=[FieldError("cursor", message)])
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

        async def effect(conn: Connection) -> tuple[Response, str]:
            row = await service.create_endpoint(conn, caller, subscription)
            return _json(service.endpoint_json(row, secret=True), 201, Location=f"{PATH}/{row['id']}"), row["id"]

        return await run_idempotent(request, caller, f"POST {PATH}", body, effect)

    async def list_(request: Request, caller: Caller) -> Response:
        limit, after = _list_params(request, service.ENDPOINT_PREFIX)
        async with database(request).read(caller.tenant_id) as conn:
            rows, has_more = await service.list_endpoints(conn, caller, limit=limit, after=after)
        next_cursor = rows[-1]["id"] if has_more else None
        return _page([service.endpoint_json(row) for row in rows], has_more, next_cursor)

    async def get(request: Request, caller: Caller, endpoint_id: str) -> Response:
        async with database(request).read(caller.tenant_id) as conn:
            row = await service.get_endpoint(conn, caller, endpoint_id)
        return _json(service.endpoint_json(row))

    async def update(request: Request, caller: Caller, endpoint_id: str) -> Response:
        config = settings(request)
        patch = await read_json_object(request, JSON_OR_MERGE_PATCH)
        async with database(request).read(caller.tenant_id) as conn:
            current = await service.get_endpoint(conn, caller, endpoint_id)
        subscription, enabled = service.validate_patch(
            patch, current, known_types, allow_private=config.webhooks_allow_private
        )
        if subscription["url"] != current["url"]:  # resolving may take a while: outside the transaction
            await service.check_resolves_publicly(subscription["url"], allow_private=config.webhooks_allow_private)
        async with database(request).write(caller.tenant_id) as conn:
            row = await service.update_endpoint(conn, caller, endpoint_id, subscription, enabled)
        return _json(service.endpoint_json(row))

    async def delete(request: Request, caller: Caller, endpoint_id: str) -> Response:
        async with database(request).write(caller.tenant_id) as conn:
            await service.delete_endpoint(conn, caller, endpoint_id)
        return Response(status_code=204)

    async def deliveries(request: Request, caller: Caller, endpoint_id: str) -> Response:
        limit, after = _list_params(request, service.DELIVERY_PREFIX)
        async with database(request).read(caller.tenant_id) as conn:
            rows, has_more = await service.list_deliveries(conn, caller, endpoint_id, limit=limit, after=after)
        next_cursor = rows[-1]["id"] if has_more else None
        return _page([service.delivery_json(row) for row in rows], has_more, next_cursor)

    async def replay(request: Request, caller: Caller, endpoint_id: str, delivery_id: str) -> Response:
        async with database(request).write(caller.tenant_id) as conn:
            endpoint = await service.get_endpoint(conn, caller, endpoint_id)
            if endpoint["status"] != "enabled":
                raise Conflict(
                    f"webhook endpoint {endpoint_id} is disabled ({endpoint['disabled_reason']}); "
                    'enable it first: PATCH it with {"enabled": true}'
                )
            row = await service.replay_delivery(conn, caller, endpoint_id, delivery_id)
        return _json(service.delivery_json(row), 202)

    return _declare(create, list_, get, update, delete, deliveries, replay, known_types)


def _declare(
    create: Endpoint, list_: Endpoint, get: Endpoint, update: Endpoint, delete: Endpoint,
    deliveries: Endpoint, replay: Endpoint, known_types: frozenset[str],
) -> tuple[Route, ...]:  # fmt: skip
    """The routes with what the API reference says of each."""
    admin = (ADMIN_SCOPE,)
    scopes_note = f"\n\nScopes: a token needs `{ADMIN_SCOPE}` in its `scope` claim (a human session without one may not)."
    by_id = {"endpoint_id": "$response.body#/id"}
    links = {
        name: {"operationId": name, "parameters": by_id}
        for name in ("getWebhookEndpoint", "updateWebhookEndpoint", "deleteWebhookEndpoint", "listWebhookDeliveries")
    }

    def doc(name: str, operation_id: str, summary: str, description: str, responses: dict[str, Any], **kw: Any) -> Doc:
        return Doc(
            operation_id=operation_id,
            summary=summary,
            description=description + scopes_note,
            tag=openapi.TAG["name"],
            responses=responses,
            methods=(ClientMethod(f"client.webhooks.{name}", summary, admin),),
            **kw,
        )

    def body(ref: str, example: dict[str, Any], *media_types: str) -> dict[str, Any]:
        media = {"schema": {"$ref": f"#/components/schemas/{ref}"}, "example": example}
        return {"required": True, "content": dict.fromkeys(media_types, media)}

    endpoint_path = (openapi.endpoint_id_parameter(),)
    pages = openapi.list_parameters(MAX_LIMIT, DEFAULT_LIMIT)
    body_errors = (PayloadTooLarge, UnsupportedMediaType, ValidationFailed)
    return (
        Route("POST", PATH, create, admin, doc=doc(
            "create", "createWebhookEndpoint", "Subscribe a URL to change events",
            "A new endpoint; the answer shows its signing `secret`, this once. The URL must be `https` on a host "
            "that resolves to public addresses only (422 naming `url` otherwise). Each matching event is POSTed "
            "to it signed (Standard Webhooks), retried for 3 days (docs/webhooks.md). At most "
            f"{service.MAX_ENDPOINTS} endpoints a tenant.",
            {"201": json_response("WebhookEndpointWithSecret", "Created.", "Location", "Idempotent-Replayed")
             | {"links": links}},
            errors=(*body_errors, IdempotencyInFlight, IdempotencyConflict),
            parameters=(_IDEMPOTENCY_KEY,),
            request_body=body("WebhookEndpointCreate", openapi.CREATE_EXAMPLE, "application/json"),
        )),
        Route("GET", PATH, list_, admin, doc=doc(
            "list", "listWebhookEndpoints", "List webhook endpoints",
            "The caller's endpoints (its tenant's, or its app's), oldest first, without their secrets. "
            "Any other query parameter is a 400 naming it.",
            {"200": json_response("WebhookEndpointList", "A page of endpoints.")},
            parameters=pages,
        )),
        Route("GET", ITEM, get, admin, doc=doc(
            "get", "getWebhookEndpoint", "Get a webhook endpoint",
            "One endpoint, without its secret; `status` and `disabled_reason` say whether it still receives events.",
            {"200": json_response("WebhookEndpoint", "The endpoint.")},
            errors=(NotFound,),
            path_parameters=endpoint_path,
        )),
        Route("PATCH", ITEM, update, admin, doc=doc(
            "update", "updateWebhookEndpoint", "Update or re-enable a webhook endpoint (JSON Merge Patch)",
            "Change `url`, `events` or `description`, and `enabled`: `true` re-enables a disabled endpoint (its "
            "failure streak starts afresh and its pending deliveries resume; those given up stay failed: replay "
            "them), `false` pauses it. A new `url` is checked as on create.",
            {"200": json_response("WebhookEndpoint", "The updated endpoint.")},
            errors=(NotFound, *body_errors),
            path_parameters=endpoint_path,
            request_body=body("WebhookEndpointPatch", openapi.PATCH_EXAMPLE, "application/json", "application/merge-patch+json"),
        )),
        Route("DELETE", ITEM, delete, admin, doc=doc(
            "delete", "deleteWebhookEndpoint", "Delete a webhook endpoint",
            "The endpoint and its delivery log; deliveries not yet sent are dropped.",
            {"204": {"description": "Deleted.", "headers": response_headers()}},
            errors=(NotFound,),
            path_parameters=endpoint_path,
        )),
        Route("GET", DELIVERIES, deliveries, admin, doc=doc(
            "deliveries", "listWebhookDeliveries", "List an endpoint's deliveries",
            "The delivery log, newest first: per event, its status (`pending`, `succeeded`, `failed` once "
            "given up), attempts, the last answer's status, latency and first KiB, and the latest attempts.",
            {"200": json_response("WebhookDeliveryList", "A page of deliveries.")},
            errors=(NotFound,),
            parameters=pages,
            path_parameters=endpoint_path,
        )),
        Route("POST", REPLAY, replay, admin, doc=doc(
            "replay", "replayWebhookDelivery", "Send a delivery again",
            "Queue the delivery to be sent again soon, with the same event and `webhook-id` (so a receiver that "
            "deduplicates ignores it if it had it). 409 when the endpoint is disabled: enable it first.",
            {"202": json_response("WebhookDelivery", "Queued: `status` is `pending`.")},
            errors=(NotFound, Conflict),
            path_parameters=(*endpoint_path, openapi.delivery_id_parameter()),
        )),
    )
