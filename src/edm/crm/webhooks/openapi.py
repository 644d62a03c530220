"""The webhooks' part of the OpenAPI document: schemas, parameters and code samples.

Request schemas say what the server accepts, as the engine's do
(``edm.crm.engine.openapi``), with one thing no schema can say: whether a
URL's host resolves to public addresses only, which the server checks when
the URL is set (a 422 naming ``url``, docs/webhooks.md).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from typing import Any

from edm.crm.engine.patterns import NO_NUL
from edm.crm.engine.samples import curl, sample
from edm.crm.webhooks import service
from edm.crm.webhooks.service import PATH
from edm.crm.webhooks.ssrf import MAX_URL_LENGTH

__all__ = [
    "webhook_schemas", "endpoint_id_parameter", "delivery_id_parameter", "list_parameters", "webhook_samples",
    "EXAMPLE_ENDPOINT_ID", "EXAMPLE_DELIVERY_ID", "EXAMPLE_URL", "CREATE_EXAMPLE", "PATCH_EXAMPLE", "TAG",
]  # fmt: skip

TAG = {
    "name": "webhooks",
    "description": "Signed HTTP callbacks of record changes (Standard Webhooks), with a delivery log: "
    "`client.webhooks` (docs/webhooks.md). Managing them needs the `crm.admin` scope.",
}
EXAMPLE_ENDPOINT_ID = "we_01JBX5T9Q3ZK8M2N4P6R7S9V0W"
EXAMPLE_DELIVERY_ID = "wd_01JBX5T9Q3ZK8M2N4P6R7S9V0W"
EXAMPLE_URL = "https://example.com/webhooks/edm"
CREATE_EXAMPLE = {"url": EXAMPLE_URL, "events": ["account.created", "account.updated"], "description": "CRM sync"}
PATCH_EXAMPLE = {"enabled": True}
_ULID = "[0-7][0-9A-HJKMNP-TV-Z]{25}"
_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}


def _id_input(prefix: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "description": f"`{prefix}_<ULID>`; anything else is a 404."}


def endpoint_id_parameter() -> dict[str, Any]:
    return {"name": "endpoint_id", "in": "path", "required": True, "schema": _id_input(service.ENDPOINT_PREFIX)}


def delivery_id_parameter() -> dict[str, Any]:
    return {"name": "delivery_id", "in": "path", "required": True, "schema": _id_input(service.DELIVERY_PREFIX)}


def list_parameters(max_limit: int, default_limit: int) -> tuple[dict[str, Any], ...]:
    return (
        {
            "name": "limit", "in": "query", "required": False, "description": "How many to return.",
            "schema": {"type": "integer", "minimum": 1, "maximum": max_limit, "default": default_limit},
        },
        {
            "name": "cursor", "in": "query", "required": False,
            "description": "The `next_cursor` of the previous page; anything else is a 400.",
            "schema": {"type": "string", "minLength": 1},
        },
    )  # fmt: skip


def _events_input(event_types: Iterable[str]) -> dict[str, Any]:
    return {
        "description": 'The event types to receive (`<noun>.created|updated|deleted|restored|purged`), or `["*"]` for all.',
        "anyOf": [
            {"type": "array", "items": {"const": "*"}, "minItems": 1, "maxItems": 1},
            {"type": "array", "items": {"type": "string", "enum": sorted(event_types)}, "minItems": 1},
        ],
    }


def webhook_schemas(event_types: Iterable[str]) -> dict[str, Any]:
    types = sorted(event_types)
    url_in = {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_URL_LENGTH,
        "pattern": NO_NUL,
        "description": "An `https` URL whose host resolves to public addresses only (no loopback, private, "
        "link-local, shared, multicast or reserved address); checked when set and at every delivery.",
    }
    description_in = {"type": ["string", "null"], "maxLength": service.MAX_DESCRIPTION, "pattern": NO_NUL}
    endpoint_properties: dict[str, Any] = {
        "id": {"type": "string", "pattern": f"^we_{_ULID}$"},
        "object": {"const": "webhook_endpoint"},
        "url": {"type": "string"},
        "events": {"type": "array", "items": {"type": "string", "enum": ["*", *types]}},
        "description": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": ["enabled", "disabled"]},
        "disabled_reason": {"type": ["string", "null"], "description": "Why it was disabled (null when enabled)."},
        "disabled_at": _TIME_OR_NULL,
        "app_id": {"type": ["string", "null"], "description": "The app whose token made it: it gets that app's events only."},
        "created_at": _TIME,
        "created_by": {"type": "string"},
    }
    endpoint = {"type": "object", "required": list(endpoint_properties), "properties": endpoint_properties}
    created = {
        "type": "object",
        "required": [*endpoint_properties, "secret"],
        "properties": {
            **endpoint_properties,
            "secret": {
                "type": "string",
                "pattern": "^whsec_[A-Za-z0-9+/=]+$",
                "description": "The signing secret, shown this once: keep it to verify deliveries.",
            },
        },
    }
    attempt = {
        "type": "object",
        "required": ["at", "response_status", "latency_ms", "error"],
        "properties": {
            "at": _TIME,
            "response_status": {"type": ["integer", "null"]},
            "latency_ms": {"type": "integer"},
            "error": {"type": ["string", "null"]},
        },
    }
    delivery_properties: dict[str, Any] = {
        "id": {"type": "string", "pattern": f"^wd_{_ULID}$"},
        "object": {"const": "webhook_delivery"},
        "endpoint_id": {"type": "string"},
        "event_id": {"type": "string", "description": "The event's id: the `webhook-id` header of every attempt."},
        "event_type": {"type": "string"},
        "status": {"type": "string", "enum": ["pending", "succeeded", "failed"]},
        "attempts": {"type": "integer", "minimum": 0},
        "created_at": _TIME,
        "last_attempt_at": _TIME_OR_NULL,
        "next_attempt_at": {**_TIME_OR_NULL, "description": "When it is tried next (pending only)."},
        "response_status": {"type": ["integer", "null"], "description": "The last attempt's HTTP status."},
        "latency_ms": {"type": ["integer", "null"]},
        "response_excerpt": {"type": ["string", "null"], "description": "The last answer's first KiB."},
        "error": {"type": ["string", "null"], "description": "Why the last attempt got no answer."},
        "attempt_log": {"type": "array", "items": attempt, "description": "The latest attempts, oldest first."},
    }
    delivery = {"type": "object", "required": list(delivery_properties), "properties": delivery_properties}

    def page(ref: str) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["object", "data", "has_more", "next_cursor"],
            "properties": {
                "object": {"const": "list"},
                "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}},
                "has_more": {"type": "boolean"},
                "next_cursor": {"type": ["string", "null"]},
            },
        }

    return {
        "WebhookEndpoint": endpoint,
        "WebhookEndpointWithSecret": created,
        "WebhookEndpointList": page("WebhookEndpoint"),
        "WebhookEndpointCreate": {
            "type": "object",
            "additionalProperties": False,
            "required": ["url", "events"],
            "properties": {"url": url_in, "events": _events_input(types), "description": description_in},
        },
        "WebhookEndpointPatch": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "url": url_in,
                "events": _events_input(types),
                "description": description_in,
                "enabled": {
                    "type": "boolean",
                    "description": "`true` re-enables a disabled endpoint (its pending deliveries resume); "
                    "`false` pauses it.",
                },
            },
        },
        "WebhookDelivery": delivery,
        "WebhookDeliveryList": page("WebhookDelivery"),
    }


_AUTH = '-H "Authorization: Bearer $EDM_TOKEN"'
_CLIENT = "import edm\n\nclient = edm.Client()  # EDM_BASE_URL, EDM_TOKEN (with the crm.admin scope)\n"


def webhook_samples() -> dict[str, list[dict[str, str]]]:
    """curl and Python samples of each ``client.webhooks`` method."""
    item = f"{PATH}/{EXAMPLE_ENDPOINT_ID}"
    body = shlex.quote(json.dumps({"url": EXAMPLE_URL, "events": ["account.created", "account.updated"]}))
    eid, did = json.dumps(EXAMPLE_ENDPOINT_ID), json.dumps(EXAMPLE_DELIVERY_ID)
    curls = {
        "create": curl("POST", PATH, _AUTH, '-H "Content-Type: application/json"', f"-d {body}"),
        "list": curl("GET", PATH, _AUTH, "-d limit=20"),
        "get": curl("GET", item, _AUTH),
        "update": curl(
            "PATCH", item, _AUTH, '-H "Content-Type: application/merge-patch+json"', "-d '{\"enabled\": true}'"
        ),
        "delete": curl("DELETE", item, _AUTH),
        "deliveries": curl("GET", item + "/deliveries", _AUTH, "-d limit=20"),
        "replay": curl("POST", f"{item}/deliveries/{EXAMPLE_DELIVERY_ID}/replay", _AUTH),
    }
    pythons = {
        "create": "endpoint = client.webhooks.create(\n"
        f'    url="{EXAMPLE_URL}",\n    events=["account.created", "account.updated"],\n)\n'
        "print(endpoint.id, endpoint.secret)  # keep the secret: it is shown this once\n",
        "list": "for endpoint in client.webhooks.list():  # every page, fetched as needed\n"
        "    print(endpoint.id, endpoint.url, endpoint.status)\n",
        "get": f"endpoint = client.webhooks.get({eid})\nprint(endpoint.status, endpoint.disabled_reason)\n",
        "update": f"endpoint = client.webhooks.update({eid}, enabled=True)  # re-enable after fixing the receiver\n"
        "print(endpoint.status)\n",
        "delete": f"client.webhooks.delete({eid})\n",
        "deliveries": f"for delivery in client.webhooks.deliveries({eid}):  # newest first, every page\n"
        "    print(delivery.event_type, delivery.status, delivery.attempts, delivery.response_status)\n",
        "replay": f"delivery = client.webhooks.replay({eid}, {did})\nprint(delivery.status)  # pending: sent again soon\n",
    }
    return {name: [sample("curl", curls[name]), sample("Python", _CLIENT + pythons[name])] for name in curls}

