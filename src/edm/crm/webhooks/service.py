"""The rules of webhook endpoints and their delivery log; every function takes the verified caller first.

An endpoint belongs to its tenant, and, when an app's token made it, to that
app: it receives only that app's records' events, and only that app sees it
(as with records).  Another tenant's (or app's) endpoint answers 404.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from edm.crm.webhooks import ssrf
from edm.crm.webhooks.signing import new_secret
from edm.crm.webhooks.tables import deliveries, endpoints
from edm.kit.auth import Caller
from edm.kit.db import Connection
from edm.kit.errors import FieldError, NotFound, ValidationFailed
from edm.kit.ids import new_id, parse_id
from edm.kit.types import iso_utc_millis

__all__ = [
    "PATH", "ENDPOINT_PREFIX", "DELIVERY_PREFIX", "create_endpoint", "list_endpoints", "get_endpoint", "update_endpoint",
    "delete_endpoint", "validate_patch", "list_deliveries", "replay_delivery", "endpoint_json", "delivery_json",
    "MAX_ENDPOINTS",
]  # fmt: skip

PATH = "/api/v1/crm/webhooks"
ENDPOINT_PREFIX, DELIVERY_PREFIX = "we", "wd"
EVENT_OPS = ("created", "updated", "deleted", "restored", "purged")
MAX_ENDPOINTS = 100  # per tenant
MAX_DESCRIPTION = 500
_BODY_FIELDS = {"url", "events", "description"}
_PATCH_FIELDS = {*_BODY_FIELDS, "enabled"}


def event_types(nouns: Iterable[str]) -> frozenset[str]:
    return frozenset(f"{noun}.{op}" for noun in nouns for op in EVENT_OPS)


def _now() -> datetime:
    return datetime.now(UTC)


def _scope(table: sa.Table, caller: Caller) -> list[sa.ColumnElement[bool]]:
    where = [table.c.tenant_id == caller.tenant_id]
    if caller.app_id is not None and table is endpoints:
        where.append(table.c.app_id == caller.app_id)
    return where


def validate_body(body: Mapping[str, Any], known_types: frozenset[str], *, allow_private: bool) -> dict[str, Any]:
    """The subscription ``{"url", "events", "description"}``, or a 422 naming every bad field."""
    errors = _unknown_fields(body, _BODY_FIELDS) + _subscription_errors(body, known_types, allow_private=allow_private)
    if errors:
        raise ValidationFailed(f"invalid fields: {', '.join(e.field for e in errors)}", errors=errors)
    return _subscription(body)


def validate_patch(
    patch: Mapping[str, Any], current: Mapping[str, Any], known_types: frozenset[str], *, allow_private: bool
) -> tuple[dict[str, Any], bool | None]:
    """A JSON Merge Patch of an endpoint: the subscription it makes, and ``enabled`` (None: unchanged); or a 422."""
    merged = {name: current[name] for name in _BODY_FIELDS} | {k: v for k, v in patch.items() if k in _BODY_FIELDS}
    errors = _unknown_fields(patch, _PATCH_FIELDS) + _subscription_errors(merged, known_types, allow_private=allow_private)
    enabled = patch.get("enabled")
    if "enabled" in patch and not isinstance(enabled, bool):
        errors.append(FieldError("enabled", "must be true or false"))
    if errors:
        raise ValidationFailed(f"invalid fields: {', '.join(e.field for e in errors)}", errors=errors)
    return _subscription(merged), enabled


def _unknown_fields(body: Mapping[str, Any], known: set[str]) -> list[FieldError]:
    return [FieldError(name, "is not a field of a webhook endpoint") for name in sorted(set(body) - known)]


def _subscription(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"url": body["url"], "events": sorted(set(body["events"])), "description": body.get("description")}


def _subscription_errors(body: Mapping[str, Any], known_types: frozenset[str], *, allow_private: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    url = body.get("url")
    if not isinstance(url, str) or not url:
        errors.append(FieldError("url", "is required, a string"))
    else:
        try:
            ssrf.check_url(url, allow_private=allow_private)
        except ssrf.UnsafeURL as exc:
            errors.append(FieldError("url", str(exc)))
    events = body.get("events")
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        errors.append(FieldError("events", 'is required: a non-empty list of event types, or ["*"]'))
    else:
        unknown = [e for e in events if e != "*" and e not in known_types]
        if unknown:
            errors.append(FieldError("events", f"unknown event types {unknown}; known: {sorted(known_types)} or *"))
        elif "*" in events and len(events) > 1:
            errors.append(FieldError("events", '"*" already means every event type; give it alone'))
    description = body.get("description")
    if description is not None and (
        not isinstance(description, str) or len(description) > MAX_DESCRIPTION or "\x00" in description
    ):
        errors.append(FieldError("description", f"must be a string of at most {MAX_DESCRIPTION} characters, without NUL"))
    return errors


async def check_resolves_publicly(url: str, *, allow_private: bool) -> None:
    try:
        await ssrf.resolve(url, allow_private=allow_private)
    except ssrf.UnsafeURL as exc:
        raise ValidationFailed(f"url {exc}", errors=[FieldError("url", str(exc))]) from None


def endpoint_json(row: Mapping[str, Any], *, secret: bool = False) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "object": "webhook_endpoint",
        "url": row["url"],
        "events": row["events"],
        "description": row["description"],
        "status": row["status"],
        "disabled_reason": row["disabled_reason"],
        "disabled_at": row["disabled_at"] and iso_utc_millis(row["disabled_at"]),
        "app_id": row["app_id"],
        "created_at": iso_utc_millis(row["created_at"]),
        "created_by": row["created_by"],
    }
    if secret:
        out["secret"] = row["secret"]
    return out


def delivery_json(row: Mapping[str, Any]) -> dict[str, Any]:
    def at(name: str) -> str | None:
        return row[name] and iso_utc_millis(row[name])

    return {
        "id": row["id"],
        "object": "webhook_delivery",
        "endpoint_id": row["endpoint_id"],
        "event_id": row["event_id"],
        "event_type": row["event_type"],
        "status": row["status"],
        "attempts": row["attempts"],
        "created_at": at("created_at"),
        "last_attempt_at": at("last_attempt_at"),
        "next_attempt_at": at("next_attempt_at") if row["status"] == "pending" else None,
        "response_status": row["response_status"],
        "latency_ms": row["latency_ms"],
        "response_excerpt": row["response_excerpt"],
        "error": row["error"],
        "attempt_log": row["attempt_log"],
    }


async def create_endpoint(conn: Connection, caller: Caller, subscription: Mapping[str, Any]) -> Mapping[str, Any]:
    count = (
        await conn.execute(sa.select(sa.func.count()).select_from(endpoints).where(*_scope(endpoints, caller)))
    ).scalar_one()
    if count >= MAX_ENDPOINTS:
        message = f"a tenant may have at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
        raise ValidationFailed(message, errors=[FieldError("url", message)])
    values = {
        "tenant_id": caller.tenant_id,
        "id": new_id(ENDPOINT_PREFIX),
        "app_id": caller.app_id,
        "url": subscription["url"],
        "events": subscription["events"],
        "description": subscription["description"],
        "secret": new_secret(),
        "status": "enabled",
        "disabled_reason": None,
        "disabled_at": None,
        "failing_since": None,
        "created_at": _now(),
        "created_by": caller.sub,
    }
    await conn.execute(endpoints.insert().values(**values))
    return values


async def list_endpoints(
    conn: Connection, caller: Caller, *, limit: int, after: str | None
) -> tuple[list[Mapping[str, Any]], bool]:
    """The caller's endpoints, oldest first; ``after`` is the last id of the previous page."""
    where = _scope(endpoints, caller)
    if after is not None:
        where.append(endpoints.c.id > after)
    statement = sa.select(endpoints).where(*where).order_by(endpoints.c.id).limit(limit + 1)
    rows = list((await conn.execute(statement)).mappings().all())
    return rows[:limit], len(rows) > limit


async def get_endpoint(conn: Connection, caller: Caller, endpoint_id: str) -> Any:
    canonical = parse_id(ENDPOINT_PREFIX, endpoint_id)
    row = None
    if canonical is not None:
        statement = sa.select(endpoints).where(*_scope(endpoints, caller), endpoints.c.id == canonical)
        row = (await conn.execute(statement)).mappings().first()
    if row is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    return row


async def update_endpoint(
    conn: Connection, caller: Caller, endpoint_id: str, subscription: Mapping[str, Any], enabled: bool | None
) -> Any:
    """Change the subscription; ``enabled=True`` re-enables a disabled endpoint (its failure streak starts
    afresh), ``False`` disables it by hand; pending deliveries wait while it is disabled."""
    row = await get_endpoint(conn, caller, endpoint_id)
    values: dict[str, Any] = dict(subscription)
    if enabled is True and row["status"] != "enabled":
        values.update(status="enabled", disabled_reason=None, disabled_at=None, failing_since=None)
    elif enabled is False and row["status"] != "disabled":
        values.update(status="disabled", disabled_reason=f"disabled through the API by {caller.sub}", disabled_at=_now())
    statement = (
        endpoints.update()
        .where(endpoints.c.tenant_id == caller.tenant_id, endpoints.c.id == row["id"])
        .values(**values)
        .returning(*endpoints.c)
    )
    return (await conn.execute(statement)).mappings().one()


async def delete_endpoint(conn: Connection, caller: Caller, endpoint_id: str) -> None:
    row = await get_endpoint(conn, caller, endpoint_id)
    await conn.execute(
        deliveries.delete().where(deliveries.c.tenant_id == caller.tenant_id, deliveries.c.endpoint_id == row["id"])
    )
    await conn.execute(endpoints.delete().where(endpoints.c.tenant_id == caller.tenant_id, endpoints.c.id == row["id"]))


async def list_deliveries(
    conn: Connection, caller: Caller, endpoint_id: str, *, limit: int, after: str | None
) -> tuple[list[Mapping[str, Any]], bool]:
    """The endpoint's deliveries, newest first; ``after`` is the last id of the previous page."""
    endpoint = await get_endpoint(conn, caller, endpoint_id)
    where = [deliveries.c.tenant_id == caller.tenant_id, deliveries.c.endpoint_id == endpoint["id"]]
    if after is not None:
        where.append(deliveries.c.id < after)
    statement = sa.select(deliveries).where(*where).order_by(deliveries.c.id.desc()).limit(limit + 1)
    rows = list((await conn.execute(statement)).mappings().all())
    return rows[:limit], len(rows) > limit


async def replay_delivery(conn: Connection, caller: Caller, endpoint_id: str, delivery_id: str) -> Any:
    """Send the delivery again as soon as a worker can (same event, same ``webhook-id``)."""
    endpoint = await get_endpoint(conn, caller, endpoint_id)
    canonical = parse_id(DELIVERY_PREFIX, delivery_id)
    where = [
        deliveries.c.tenant_id == caller.tenant_id,
        deliveries.c.endpoint_id == endpoint["id"],
        deliveries.c.id == (canonical or ""),
    ]
    statement = (
        deliveries.update()
        .where(*where)
        .values(status="pending", next_attempt_at=_now(), leased_until=None)
        .returning(*deliveries.c)
    )
    row = (await conn.execute(statement)).mappings().first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id} of webhook endpoint {endpoint_id}")
    return row
