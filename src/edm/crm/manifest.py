"""The API manifest: what the API offers, for machines (``GET /api/v1/manifest``).

Every registered resource with its operations (method, path, scopes, SDK
method, read from the routes' declarations) and its field table (type,
writer, limits, filters and sorts, read from the fields), built once.  The
SDK generator (``python -m edm.codegen``) reads this document too.
"""

from __future__ import annotations

from typing import Any

from edm.crm.engine import formats
from edm.crm.engine.engine import RecordEngine
from edm.crm.engine.events import OPS, event_type
from edm.crm.engine.fields import (
    ADDRESS_KEYS,
    ADDRESS_TYPES,
    CUSTOM_FIELD_KEY_PATTERN,
    MAX_ADDRESSES,
    MAX_CUSTOM_FIELDS,
    MAX_CUSTOM_FIELDS_BYTES,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    Field,
)
from edm.crm.engine.listing import (
    DEFAULT_LIMIT,
    DEFAULT_SORT,
    FILTER_OPERATORS,
    MAX_FILTERS,
    MAX_LIMIT,
    MAX_LIST_VALUES,
    MAX_Q_LENGTH,
    MAX_QUERY_BYTES,
    MAX_SORT_KEYS,
    MAX_VALUE_LENGTH,
    PARAMETERS,
)
from edm.crm.registry import REGISTRY, Registry
from edm.kit.idempotency import MAX_KEY_LENGTH
from edm.kit.jsonbody import MAX_BODY_BYTES

__all__ = ["build_manifest", "field_entry", "API_VERSION", "MANIFEST_PATH", "OPENAPI_PATH", "MANIFEST_SCHEMA"]

API_VERSION = "1.0.0"
MANIFEST_PATH = "/api/v1/manifest"
OPENAPI_PATH = "/api/v1/openapi.json"

# Field kinds as the types of the field table.
TYPES = {
    "id": "string",
    "string": "string",
    "enum": "enum",
    "boolean": "boolean",
    "integer": "integer",
    "number": "number",
    "date-time": "date-time",
    "addresses": "array",
    "custom_fields": "object",
    "tags": "array",
}


def _limits(field: Field) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    if field.format:
        limits |= field.format.limits
    if field.max_length:
        limits["max_length"] = field.max_length
    if field.format and field.format.name and field.client_writable:
        limits["format"] = field.format.name
    if field.enum:
        limits["enum"] = list(field.enum)
    if field.kind in ("integer", "number"):
        low, high = field.bounds
        limits["minimum"] = low
        if high is not None:
            limits["maximum"] = high
        else:
            limits["finite"] = True
    if field.kind == "addresses":
        limits |= {
            "max_items": MAX_ADDRESSES,
            "item_keys": list(ADDRESS_KEYS),
            "address_types": list(ADDRESS_TYPES),
            "countries": sorted(formats.COUNTRIES),
        }
    if field.kind == "tags":
        limits |= {"max_items": MAX_TAGS, "min_item_length": 1, "max_item_length": MAX_TAG_LENGTH, "distinct": True}
    if field.kind == "custom_fields":
        limits |= {"max_keys": MAX_CUSTOM_FIELDS, "key_pattern": CUSTOM_FIELD_KEY_PATTERN, "max_bytes": MAX_CUSTOM_FIELDS_BYTES}
    return limits


def _filters(engine: RecordEngine, field: Field) -> tuple[str | None, list[str]]:
    """The filter parameter key of a field and its operators (none: not filterable)."""
    if field.name in engine.resource.filterable:
        return f"filter[{field.name}]", list(engine.grammar.operators(field.name))
    if field.kind == "tags":
        return f"filter[{field.name}]", list(FILTER_OPERATORS["tags"])
    if field.kind == "custom_fields":
        return "filter[custom_fields.{key}]", list(FILTER_OPERATORS["custom"])
    return None, []


def field_entry(engine: RecordEngine, field: Field) -> dict[str, Any]:
    """One row of a resource's field table."""
    filter_key, operators = _filters(engine, field)
    default = list(field.default) if isinstance(field.default, tuple) else field.default
    return {
        "name": field.name,
        "type": TYPES[field.kind],
        "kind": field.kind,
        "writer": field.writer,
        "required_on_create": field.required,
        "nullable": field.nullable and field.writer == "client",
        "default": default,
        "limits": _limits(field),
        "filterable": filter_key is not None,
        "filter": filter_key,
        "operators": operators,
        "sortable": field.name in engine.resource.sortable,
        "description": field.description,
    }


def _operations(engine: RecordEngine) -> list[dict[str, Any]]:
    """One entry per SDK method, as the routes declare them (a delete route also carries purge)."""
    out = []
    for route in engine.routes:
        if route.doc is None:
            continue
        status = int(next(s for s in route.doc.responses if s.startswith("2")))
        for method in route.doc.methods:
            out.append(
                {
                    "name": method.name,
                    "operation_id": route.doc.operation_id,
                    "method": route.method,
                    "path": route.path,
                    "query": dict(method.query),
                    "scopes": list(method.scopes),
                    "sdk": method.sdk,
                    "status": status,
                    "summary": method.summary,
                }
            )
    return out


def _resource(engine: RecordEngine) -> dict[str, Any]:
    resource = engine.resource
    return {
        "name": resource.name,
        "object": resource.noun,
        "path": resource.path,
        "sdk": resource.sdk,
        "id_prefix": resource.id_prefix,
        "operations": _operations(engine),
        "fields": [field_entry(engine, field) for field in resource.fields],
        "listing": {
            "default_limit": DEFAULT_LIMIT,
            "max_limit": MAX_LIMIT,
            "sort": list(resource.sortable),
            "default_sort": ",".join(("-" if key.descending else "") + key.field for key in DEFAULT_SORT),
            "max_sort_keys": MAX_SORT_KEYS,
            "filter_operators": {kind: list(ops) for kind, ops in FILTER_OPERATORS.items()},
            "max_filters": MAX_FILTERS,
            "max_list_values": MAX_LIST_VALUES,
            "max_value_length": MAX_VALUE_LENGTH,
            "max_query_bytes": MAX_QUERY_BYTES,
            "search": list(resource.searched),
            "max_q_length": MAX_Q_LENGTH,
            "parameters": [*(p for p in PARAMETERS if p != "q" or resource.searched), "filter[...]"],
        },
        "changes": {
            "history_ops": [op for op in OPS if op != "purge"],
            "event_types": [event_type(resource.noun, op) for op in OPS],
            "event_record_key": resource.id_parameter,
        },
        "requests": {
            "max_body_bytes": MAX_BODY_BYTES,
            "update_media_types": ["application/json", "application/merge-patch+json"],
            "idempotency_key_max_length": MAX_KEY_LENGTH,
        },
    }


def build_manifest(registry: Registry = REGISTRY) -> dict[str, Any]:
    return {
        "api_version": API_VERSION,
        "openapi": OPENAPI_PATH,
        "manifest": MANIFEST_PATH,
        "authentication": {
            "scheme": "bearer",
            "format": "JWT",
            "claims": {
                "required": ["sub", "tenant_id", "exp"],
                "optional": ["app_id", "scope", "nbf", "iat", "iss", "aud"],
            },
            "note": "a token without `scope` is a human session: read and write, no admin",
        },
        "resources": [_resource(engine) for engine in registry],
    }


_STRINGS = {"type": "array", "items": {"type": "string"}}
_OPERATION = {
    "type": "object",
    "required": ["name", "operation_id", "method", "path", "query", "scopes", "sdk", "status", "summary"],
    "properties": {
        "name": {"type": "string", "description": "The SDK method name."},
        "operation_id": {"type": "string", "description": "The operationId in the OpenAPI document."},
        "method": {"type": "string", "enum": ["GET", "POST", "PATCH", "DELETE"]},
        "path": {"type": "string"},
        "query": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Fixed query parameters."},
        "scopes": {**_STRINGS, "description": "What a token with a `scope` claim needs."},
        "sdk": {"type": "string", "description": "E.g. `client.customer.accounts.list`."},
        "status": {"type": "integer", "description": "The success status."},
        "summary": {"type": "string"},
    },
}
_FIELD = {
    "type": "object",
    "required": [
        "name",
        "type",
        "kind",
        "writer",
        "required_on_create",
        "nullable",
        "default",
        "limits",
        "filterable",
        "filter",
        "operators",
        "sortable",
        "description",
    ],
    "properties": {
        "name": {"type": "string"},
        "type": {"type": "string", "enum": ["string", "enum", "boolean", "integer", "number", "date-time", "array", "object"]},
        "kind": {"type": "string", "description": "The field table's finer kind (id, addresses, tags, custom_fields, …)."},
        "writer": {"type": "string", "enum": ["server", "client"]},
        "required_on_create": {"type": "boolean"},
        "nullable": {"type": "boolean", "description": "Whether a client may send null (back to the default)."},
        "default": {"description": "What create stores when the client leaves the field out."},
        "limits": {"type": "object", "description": "max_length, format, enum, minimum, max_items, max_keys, …"},
        "filterable": {"type": "boolean"},
        "filter": {"type": ["string", "null"], "description": "The filter parameter, e.g. `filter[industry]`."},
        "operators": _STRINGS,
        "sortable": {"type": "boolean"},
        "description": {"type": "string"},
    },
}
_CHANGES = {
    "type": "object",
    "description": "What the history and change feed operations return (docs/changes.md).",
    "required": ["history_ops", "event_types", "event_record_key"],
    "properties": {
        "history_ops": {**_STRINGS, "description": "The `op` of a history entry."},
        "event_types": {**_STRINGS, "description": "The `type` of a feed event, e.g. `account.updated`."},
        "event_record_key": {"type": "string", "description": "The key of an event naming its record, e.g. `account_id`."},
    },
}
MANIFEST_SCHEMA = {
    "type": "object",
    "description": "What the API offers: resources, operations, SDK methods and each resource's field table.",
    "required": ["api_version", "openapi", "manifest", "resources"],
    "properties": {
        "api_version": {"type": "string"},
        "openapi": {"type": "string"},
        "manifest": {"type": "string"},
        "authentication": {"type": "object"},
        "resources": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "object", "path", "sdk", "id_prefix", "operations", "fields", "listing"],
                "properties": {
                    "name": {"type": "string"},
                    "object": {"type": "string"},
                    "path": {"type": "string"},
                    "sdk": {"type": "string"},
                    "id_prefix": {"type": "string"},
                    "operations": {"type": "array", "items": _OPERATION},
                    "fields": {"type": "array", "items": _FIELD},
                    "listing": {"type": "object"},
                    "changes": _CHANGES,
                    "requests": {"type": "object"},
                },
            },
        },
    },
}
