"""``GET /api/v1/manifest`` (SPEC §11): what the API offers, for machines.

The resources, their operations (method, path, scopes, SDK method) and the
field table of SPEC §1 with each field's type, writer, limits, filters and
sorts — all read from ``fields.py``, ``listing.py`` and the operations table
of ``openapi.py``, and built once, like the OpenAPI document.  No token is
needed, as for ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from edm.crm.accounts import formats
from edm.crm.accounts.fields import (
    ADDRESS_KEYS,
    ADDRESS_TYPES,
    CUSTOM_FIELD_KEY_PATTERN,
    FIELDS,
    MAX_ADDRESSES,
    MAX_CUSTOM_FIELDS,
    MAX_CUSTOM_FIELDS_BYTES,
    MAX_EMPLOYEE_COUNT,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    Field,
)
from edm.crm.accounts.listing import (
    DEFAULT_LIMIT,
    DEFAULT_SORT,
    FILTER_OPERATORS,
    FILTERABLE,
    MAX_LIMIT,
    MAX_LIST_VALUES,
    MAX_Q_LENGTH,
    MAX_SORT_KEYS,
    SORTABLE,
)
from edm.crm.accounts.routes import PREFIX
from edm.kit.idempotency import MAX_KEY_LENGTH
from edm.kit.jsonbody import MAX_BODY_BYTES
from edm.server.openapi import API_VERSION, MANIFEST_PATH, OPENAPI_PATH, OPERATIONS, SDK_RESOURCE, filter_operators

__all__ = ["build_manifest", "field_entry", "router"]

# The field kinds of fields.py as the types of the SPEC §1 table.
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
SEARCHED = ("name", "legal_name", "domain", "website", "description")  # what `q` looks in (list_sql)


def _limits(field: Field) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    if field.name == "name":
        limits |= {"min_length": 1, "trimmed": True}
    if field.max_length:
        limits["max_length"] = field.max_length
    if field.format:
        limits["format"] = field.format
    if field.enum:
        limits["enum"] = list(field.enum)
    if field.kind in ("integer", "number"):
        limits["minimum"] = 1 if field.name == "version" else 0
        if field.kind == "integer":
            limits["maximum"] = MAX_EMPLOYEE_COUNT
        else:
            limits["finite"] = True
    if field.kind == "addresses":
        limits |= {
            "max_items": MAX_ADDRESSES,
            "item_keys": list(ADDRESS_KEYS),
            "address_types": list(ADDRESS_TYPES),
            "countries": sorted(formats._COUNTRIES),
        }
    if field.kind == "tags":
        limits |= {"max_items": MAX_TAGS, "min_item_length": 1, "max_item_length": MAX_TAG_LENGTH, "distinct": True}
    if field.kind == "custom_fields":
        limits |= {
            "max_keys": MAX_CUSTOM_FIELDS,
            "key_pattern": CUSTOM_FIELD_KEY_PATTERN,
            "max_bytes": MAX_CUSTOM_FIELDS_BYTES,
        }
    return limits


def _filters(field: Field) -> tuple[str | None, list[str]]:
    """The filter parameter key of a field and its operators (none: not filterable)."""
    if field.name in FILTERABLE or field.name == "tags":
        return f"filter[{field.name}]", list(filter_operators(field.name))
    if field.kind == "custom_fields":
        return "filter[custom_fields.{key}]", list(FILTER_OPERATORS["custom"])
    return None, []


def field_entry(field: Field) -> dict[str, Any]:
    """One row of the SPEC §1 field table."""
    filter_key, operators = _filters(field)
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
        "sortable": field.name in SORTABLE,
        "description": field.description,
    }


def _operation_entry(op: Any) -> dict[str, Any]:
    return {
        "name": op.name,
        "operation_id": op.operation_id,
        "method": op.method,
        "path": op.path,
        "query": dict(op.query),
        "scopes": list(op.scopes),
        "sdk": op.sdk,
        "status": op.status,
        "summary": op.summary,
    }


def build_manifest() -> dict[str, Any]:
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
        "resources": [
            {
                "name": "accounts",
                "object": "account",
                "path": PREFIX,
                "sdk": SDK_RESOURCE,
                "id_prefix": "acc",
                "operations": [_operation_entry(op) for op in OPERATIONS],
                "fields": [field_entry(field) for field in FIELDS],
                "listing": {
                    "default_limit": DEFAULT_LIMIT,
                    "max_limit": MAX_LIMIT,
                    "sort": list(SORTABLE),
                    "default_sort": ",".join(("-" if key.descending else "") + key.field for key in DEFAULT_SORT),
                    "max_sort_keys": MAX_SORT_KEYS,
                    "filter_operators": {kind: list(ops) for kind, ops in FILTER_OPERATORS.items()},
                    "max_list_values": MAX_LIST_VALUES,
                    "search": list(SEARCHED),
                    "max_q_length": MAX_Q_LENGTH,
                    "parameters": [
                        "limit",
                        "cursor",
                        "sort",
                        "q",
                        "fields",
                        "include_deleted",
                        "include_total",
                        "filter[...]",
                    ],
                },
                "requests": {
                    "max_body_bytes": MAX_BODY_BYTES,
                    "update_media_types": ["application/json", "application/merge-patch+json"],
                    "idempotency_key_max_length": MAX_KEY_LENGTH,
                },
            }
        ],
    }


router = APIRouter()
_BODY = orjson.dumps(build_manifest())


@router.get(MANIFEST_PATH, include_in_schema=False)
async def manifest() -> Response:
    return Response(_BODY, media_type="application/json")
