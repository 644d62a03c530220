"""The OpenAPI 3.1 document (SPEC §11), built once at start-up.

Everything in it comes from the field table (``fields.py``), the listing
allow-lists (``listing.py``) and ``OPERATIONS`` below, which the manifest
(``manifest.py``) shares: a new field, filter operator or sort key shows up
here without an edit.

Request schemas describe exactly what the server accepts: a value they allow is
never refused as invalid, and a value they forbid is refused.  Schemathesis
checks both directions against the running server (tests/test_schemathesis.py),
so where the server normalizes input (trimming a name, splitting a comma list,
bounding integers to 64 bits) the patterns below spell the rule out.  Response
schemas describe what the server sends, which is stricter (canonical ids,
UTC timestamps, de-duplicated tags).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Literal

from edm.crm.accounts import formats
from edm.crm.accounts.auth import ADMIN_SCOPE, READ_SCOPE, WRITE_SCOPE
from edm.crm.accounts.fields import (
    ADDRESS_KEYS,
    ADDRESS_TYPES,
    CLIENT_FIELDS,
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
    FILTER_OPERATORS,
    FILTERABLE,
    MAX_LIMIT,
    MAX_LIST_VALUES,
    MAX_Q_LENGTH,
    MAX_SORT_KEYS,
    SORTABLE,
)
from edm.crm.accounts.routes import PREFIX
from edm.crm.accounts.schemas import Address as AddressModel
from edm.kit.idempotency import MAX_KEY_LENGTH
from edm.kit.jsonbody import MAX_BODY_BYTES

__all__ = [
    "API_VERSION",
    "OPERATIONS",
    "SDK_RESOURCE",
    "Operation",
    "build_openapi",
    "field_schema",
    "filter_operators",
]

API_VERSION = "1.0.0"
SDK_RESOURCE = "client.customer.accounts"
MANIFEST_PATH = "/api/v1/manifest"
OPENAPI_PATH = "/api/v1/openapi.json"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
Direction = Literal["in", "out"]  # what a request may send / what a response holds

# --------------------------------------------------------------------------- operations


@dataclass(frozen=True, slots=True)
class Operation:
    """One SDK method and the HTTP request that carries it."""

    name: str  # the SDK method: client.customer.accounts.<name>
    operation_id: str
    method: str
    path: str
    scopes: tuple[str, ...]  # what a token with a `scope` claim needs
    status: int  # the success status
    summary: str
    query: tuple[tuple[str, str], ...] = ()  # fixed query parameters (purge=true)

    @property
    def sdk(self) -> str:
        return f"{SDK_RESOURCE}.{self.name}"


_ITEM = PREFIX + "/{account_id}"
OPERATIONS: tuple[Operation, ...] = (
    Operation("list", "listAccounts", "GET", PREFIX, (READ_SCOPE,), 200, "List accounts"),
    Operation("create", "createAccount", "POST", PREFIX, (WRITE_SCOPE,), 201, "Create an account"),
    Operation("get", "getAccount", "GET", _ITEM, (READ_SCOPE,), 200, "Get an account"),
    Operation("update", "updateAccount", "PATCH", _ITEM, (WRITE_SCOPE,), 200, "Update an account (JSON Merge Patch)"),
    Operation("delete", "deleteAccount", "DELETE", _ITEM, (WRITE_SCOPE,), 204, "Delete an account (soft)"),
    Operation(
        "purge",
        "deleteAccount",
        "DELETE",
        _ITEM,
        (ADMIN_SCOPE,),
        204,
        "Erase an account for good",
        query=(("purge", "true"),),
    ),
    Operation(
        "restore", "restoreAccount", "POST", _ITEM + "/restore", (WRITE_SCOPE,), 200, "Restore a deleted account"
    ),
)


def _sdk_methods(operation_id: str) -> list[str]:
    return [op.sdk for op in OPERATIONS if op.operation_id == operation_id]


def _operation(operation_id: str) -> Operation:
    return next(op for op in OPERATIONS if op.operation_id == operation_id)


# --------------------------------------------------------------------------- patterns
#
# Regular expressions valid both in ECMA-262 (what JSON Schema validators use)
# and in Python; ASCII classes spelled out, since `\d` and `\s` differ.

_CONTROL = r"\x00-\x1f\x7f"  # what query values may not contain
_SPACES = [c for c in range(sys.maxunicode + 1) if chr(c).isspace()]  # what str.strip() removes
assert max(_SPACES) < 0x10000, "\\uXXXX escapes below cover the Basic Multilingual Plane only"
_WHITESPACE = "".join(f"\\u{c:04x}" for c in _SPACES)
_QUERY_WHITESPACE = "".join(f"\\u{c:04x}" for c in _SPACES if c >= 0x20)  # the others are refused anyway

NO_NUL = r"^[^\x00]*$"
QUERY_TEXT = rf"^[^{_CONTROL}]*$"
QUERY_TEXT_NONEMPTY = rf"^[^{_CONTROL}]+$"
# `name`: 1–255 characters once white space is trimmed from both ends.
NAME = rf"^[{_WHITESPACE}]*[^\x00{_WHITESPACE}](?:[^\x00]{{0,253}}[^\x00{_WHITESPACE}])?[{_WHITESPACE}]*$"
# `q`: at most MAX_Q_LENGTH characters once trimmed, no control characters.
Q = (
    rf"^[{_QUERY_WHITESPACE}]*(?:[^{_CONTROL}{_QUERY_WHITESPACE}]"
    rf"(?:[^{_CONTROL}]{{0,{MAX_Q_LENGTH - 2}}}[^{_CONTROL}{_QUERY_WHITESPACE}])?)?[{_QUERY_WHITESPACE}]*$"
)
_CROCKFORD = "0-9A-HJKMNP-TV-Za-hjkmnp-tv-z"
_HEX = "[0-9a-fA-F]"
ACCOUNT_ID = rf"(?:acc_[0-7][{_CROCKFORD}]{{25}}|acc-{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}})"
CANONICAL_ACCOUNT_ID = r"^acc_[0-7][0-9A-HJKMNP-TV-Z]{25}$"
USER_ID = rf"^usr-{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}$"
PHONE = r"^[0-9 +().x-]*[0-9][0-9 +().x-]*$"
# An absolute http(s) URL with a host name (a subset of what the server takes).
URL = r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})(?::[0-9]{1,4})?(?:[/?#][!#-~]*)?$"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = rf"^(?:{_LABEL}\.)*[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?$"
# Date-times the server can hold in UTC: the two days at the ends of the
# calendar are left out (an offset could carry them past year 1 or 9999).
DATE_TIME_RANGE = r"^(?!0001-01-01T.*[+]|9999-12-31T.*-)"
_YEAR = "(?:000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9])"
_MONTH_DAY = "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:[.][0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
DATE_TIME_ITEM = f"{_YEAR}-{_MONTH_DAY}T{_TIME}"
NUMBER_ITEM = r"-?[0-9]{1,15}(?:[.][0-9]{1,15})?(?:[eE][+-]?[0-9]{1,2})?"
ETAG_LIST = r'^[ \t]*(?:\*|(?:W/)?"[!#-+\--~]*"(?:[ \t]*,[ \t]*(?:W/)?"[!#-+\--~]*")*)[ \t]*$'


def _digits_at_most(bound: str) -> str:
    """Strings of ``len(bound)`` digits whose value is at most ``bound``."""
    alternatives = [bound]
    for i, digit in enumerate(bound):
        if digit != "0":
            rest = len(bound) - i - 1
            smaller = "0" if digit == "1" else f"[0-{int(digit) - 1}]"
            alternatives.append(bound[:i] + smaller + (f"[0-9]{{{rest}}}" if rest else ""))
    return "(?:" + "|".join(alternatives) + ")"


_SHORT = f"[0-9]{{1,{len(str(INT64_MAX)) - 1}}}"
INT64_ITEM = f"(?:{_SHORT}|{_digits_at_most(str(INT64_MAX))}|-(?:{_SHORT}|{_digits_at_most(str(-INT64_MIN))}))"


def _comma_list(item: str) -> str:
    return f"^{item}(?:,{item}){{0,{MAX_LIST_VALUES - 1}}}$"


# --------------------------------------------------------------------------- field schemas


_SCALAR_IN = {
    "type": ["string", "number", "boolean", "null"],
    "pattern": NO_NUL,
    "minimum": INT64_MIN,
    "maximum": INT64_MAX,
}
_SCALAR_OUT = {"type": ["string", "number", "boolean", "null"]}


def _address_max_length(key: str) -> int:
    """An address line's limit, as the request model (``schemas.Address``) enforces it."""
    variants = AddressModel.model_json_schema()["properties"][key]["anyOf"]
    return next(v["maxLength"] for v in variants if "maxLength" in v)


def _address(direction: Direction) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for key in ADDRESS_KEYS:
        if key == "type":
            properties[key] = {"type": ["string", "null"], "enum": [*ADDRESS_TYPES, None]}
        elif key == "country":
            properties[key] = {
                "type": ["string", "null"],
                "enum": [*sorted(formats._COUNTRIES), None],
                "description": "ISO 3166-1 alpha-2; input is case-insensitive, output upper-case.",
            }
        else:
            properties[key] = {"type": ["string", "null"], "maxLength": _address_max_length(key), "pattern": NO_NUL}
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if direction == "out":
        schema["required"] = list(ADDRESS_KEYS)
    return schema


def field_schema(field: Field, direction: Direction = "in") -> dict[str, Any]:
    """The JSON Schema of one field's value, without null.

    ``direction="in"`` is what a request may send, ``"out"`` what a response holds.
    """
    out = direction == "out"
    schema: dict[str, Any]
    if field.name == "name":
        schema = (
            {"type": "string", "minLength": 1, "maxLength": 255}
            if out
            else {"type": "string", "minLength": 1, "maxLength": 4096, "pattern": NAME}
        )
    elif field.kind == "id":
        schema = {"type": "string", "pattern": CANONICAL_ACCOUNT_ID if out else f"^{ACCOUNT_ID}$"}
    elif field.kind == "string":
        schema = {"type": "string"}
        if field.max_length:
            schema["maxLength"] = field.max_length
        extra: dict[str, Any] = {
            "url": {"format": "uri", "pattern": URL},
            "hostname": {"format": "hostname", "pattern": HOSTNAME},
            "phone": {"pattern": PHONE},
            "user_id": {"pattern": USER_ID},
        }.get(field.format or "", {"pattern": NO_NUL} if field.client_writable else {})
        if out and field.format == "url":
            extra = {"format": "uri"}
        if out and field.format == "hostname":
            extra = {"format": "hostname"}
        schema |= extra
    elif field.kind == "enum":
        schema = {"type": "string", "enum": list(field.enum or ())}
    elif field.kind == "boolean":
        schema = {"type": "boolean"}
    elif field.kind == "integer":
        schema = {"type": "integer", "minimum": 1 if field.name == "version" else 0, "maximum": MAX_EMPLOYEE_COUNT}
    elif field.kind == "number":
        schema = {"type": "number", "minimum": 0}
    elif field.kind == "date-time":
        schema = {"type": "string", "format": "date-time"}
        if out:
            schema["pattern"] = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z$"
        else:
            schema |= {"maxLength": 64, "pattern": DATE_TIME_RANGE}
    elif field.kind == "addresses":
        schema = {
            "type": "array",
            "maxItems": MAX_ADDRESSES,
            "items": {"$ref": f"#/components/schemas/Address{'' if out else 'Input'}"},
        }
    elif field.kind == "tags":
        tag = {"type": "string", "minLength": 1, "maxLength": MAX_TAG_LENGTH, "pattern": NO_NUL}
        schema = {"type": "array", "items": tag}
        if out:
            schema |= {"maxItems": MAX_TAGS, "uniqueItems": True}
    else:  # custom_fields
        scalar = _SCALAR_OUT if out else _SCALAR_IN
        schema = {
            "type": "object",
            "maxProperties": MAX_CUSTOM_FIELDS,
            "propertyNames": {"pattern": CUSTOM_FIELD_KEY_PATTERN},
            "additionalProperties": {"anyOf": [scalar, {"type": "array", "items": scalar}]},
            "x-max-serialized-bytes": MAX_CUSTOM_FIELDS_BYTES,
        }
    return {**schema, "description": _describe(field)}


def _describe(field: Field) -> str:
    notes = {
        "tags": f" At most {MAX_TAGS} distinct tags; duplicates are dropped, first order kept.",
        "custom_fields": f" At most {MAX_CUSTOM_FIELDS} keys and {MAX_CUSTOM_FIELDS_BYTES} bytes serialized;"
        " in an update, keys merge one by one and null removes a key.",
        "name": " Trimmed of surrounding white space.",
        "domain": " Stored lower-case.",
        "parent_account_id": " Input also accepts `acc-<uuid>`; output is canonical.",
        "id": " Input also accepts the same 128 bits as `acc-<uuid>`; output is canonical.",
    }
    return field.description + notes.get(field.name, "")


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        nullable = {**schema, "type": [kind, "null"]}
        if "enum" in schema:
            nullable["enum"] = [*schema["enum"], None]
        return nullable
    return {
        "anyOf": [{k: v for k, v in schema.items() if k != "description"}, {"type": "null"}],
        "description": schema.get("description", ""),
    }


# What a response always fills in: server-stamped, or a client field with a default.
_NEVER_NULL_OUT = frozenset(
    {
        "id",
        "tenant_id",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "is_deleted",
        "schema_version",
        "version",
        "name",
    }
) | frozenset(f.name for f in CLIENT_FIELDS if f.default is not None)


def _account_schemas() -> dict[str, Any]:
    out = {
        f.name: field_schema(f, "out") if f.name in _NEVER_NULL_OUT else _nullable(field_schema(f, "out"))
        for f in FIELDS
    }
    account = {
        "type": "object",
        "description": "An account: every field of the field table, always present (`null` where unset).",
        "required": [f.name for f in FIELDS],
        "additionalProperties": False,
        "properties": out,
    }
    partial = {
        "type": "object",
        "description": "An account in a list page: every field, or with `fields=` only `id` and the fields named.",
        "required": ["id"],
        "additionalProperties": False,
        "properties": out,
    }
    create = {
        "type": "object",
        "description": "The client-writable fields; `name` is required, every other field may be left out or null (its default).",
        "additionalProperties": False,
        "required": [f.name for f in CLIENT_FIELDS if f.required],
        "properties": {f.name: field_schema(f) if f.required else _nullable(field_schema(f)) for f in CLIENT_FIELDS},
    }
    patch = {
        "type": "object",
        "description": "A JSON Merge Patch (RFC 7396): absent keys are untouched, null clears (back to the default), "
        "`custom_fields` merges key by key, arrays replace.",
        "additionalProperties": False,
        "properties": {
            **{f.name: field_schema(f) if not f.nullable else _nullable(field_schema(f)) for f in CLIENT_FIELDS},
            "version": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": MAX_EMPLOYEE_COUNT,
                "description": "Apply only when the account is at this version; else 409 `version_conflict`.",
            },
        },
    }
    page = {
        "type": "object",
        "required": ["object", "data", "has_more", "next_cursor"],
        "additionalProperties": False,
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "maxItems": MAX_LIMIT, "items": {"$ref": "#/components/schemas/AccountPartial"}},
            "has_more": {"type": "boolean"},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last.",
            },
            "total": {"type": "integer", "minimum": 0, "description": "All matches; only with `include_total=true`."},
        },
    }
    return {
        "Account": account,
        "AccountPartial": partial,
        "AccountCreate": create,
        "AccountPatch": patch,
        "AccountList": page,
        "Address": _address("out"),
        "AddressInput": _address("in"),
    }


_PROBLEM = {
    "type": "object",
    "description": "An RFC 9457 problem. `code` is stable and machine-readable: "
    "bad_request, malformed_json, invalid_parameter, unauthorized, forbidden, not_found, method_not_allowed, "
    "version_conflict, conflict, idempotency_in_flight, precondition_failed, payload_too_large, "
    "unsupported_media_type, validation_error, idempotency_conflict, precondition_required, "
    "service_unavailable, internal_error.",
    "required": ["type", "title", "status", "detail", "code", "request_id", "errors"],
    "properties": {
        "type": {"type": "string", "description": "`urn:edm:problem:<code>`."},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "request_id": {"type": ["string", "null"], "description": "The `X-Request-Id` of the response."},
        "errors": {
            "type": "array",
            "description": "One entry per bad field, parameter or header.",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "current_version": {"type": "integer", "description": "On 409 and 412: the account's current version."},
    },
}

_STRINGS = {"type": "array", "items": {"type": "string"}}
_MANIFEST_OPERATION = {
    "type": "object",
    "required": ["name", "operation_id", "method", "path", "query", "scopes", "sdk", "status", "summary"],
    "properties": {
        "name": {"type": "string", "description": "The SDK method name."},
        "operation_id": {"type": "string", "description": "The operationId in the OpenAPI document."},
        "method": {"type": "string", "enum": ["GET", "POST", "PATCH", "DELETE"]},
        "path": {"type": "string"},
        "query": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Fixed query parameters.",
        },
        "scopes": {**_STRINGS, "description": "What a token with a `scope` claim needs."},
        "sdk": {"type": "string", "description": "E.g. `client.customer.accounts.list`."},
        "status": {"type": "integer", "description": "The success status."},
        "summary": {"type": "string"},
    },
}
_MANIFEST_FIELD = {
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
        "type": {
            "type": "string",
            "enum": ["string", "enum", "boolean", "integer", "number", "date-time", "array", "object"],
        },
        "kind": {
            "type": "string",
            "description": "The field table's finer kind (id, addresses, tags, custom_fields, …).",
        },
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
_MANIFEST = {
    "type": "object",
    "description": "What the API offers: resources, operations, SDK methods and the field table (SPEC §1).",
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
                    "operations": {"type": "array", "items": _MANIFEST_OPERATION},
                    "fields": {"type": "array", "items": _MANIFEST_FIELD},
                    "listing": {"type": "object"},
                    "requests": {"type": "object"},
                },
            },
        },
    },
}


# --------------------------------------------------------------------------- parameters


def filter_operators(field_name: str) -> tuple[str, ...]:
    """The operators ``filter[FIELD][OP]`` takes for a filterable field (or ``tags``)."""
    if field_name == "tags":
        return FILTER_OPERATORS["tags"]
    kind = FILTERABLE[field_name].kind
    return FILTER_OPERATORS[kind] + (("under",) if field_name == "parent_account_id" else ())


_ITEM_PATTERNS = {
    "string": f"[^,{_CONTROL}]*",
    "custom": f"[^,{_CONTROL}]*",
    "id": ACCOUNT_ID,
    "integer": INT64_ITEM,
    "number": NUMBER_ITEM,
    "date-time": DATE_TIME_ITEM,
}


def _value_schema(kind: str, op: str, field: Field | None) -> dict[str, Any]:
    """The schema of the query value of ``filter[...][op]`` on a field of this kind."""
    if op == "exists":
        return {"type": "boolean"}
    if op in ("contains", "starts_with"):
        return {"type": "string", "pattern": QUERY_TEXT_NONEMPTY}
    if op == "under":
        return {"type": "string", "pattern": f"^{ACCOUNT_ID}$"}
    if op in ("in", "nin"):
        item = f"(?:{'|'.join(field.enum or ())})" if kind == "enum" and field else _ITEM_PATTERNS[kind]
        return {"type": "string", "pattern": _comma_list(item)}
    if kind in ("string", "custom"):
        return {"type": "string", "pattern": QUERY_TEXT}
    if kind == "id":
        return {"type": "string", "pattern": f"^{ACCOUNT_ID}$"}
    if kind == "enum":
        return {"type": "string", "enum": list(field.enum or ()) if field else []}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "integer":
        return {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX}
    if kind == "number":
        return {"type": "number"}
    return {"type": "string", "format": "date-time", "pattern": DATE_TIME_RANGE}


_OP_WORDS = {
    "eq": "equals",
    "ne": "does not equal (also matches null)",
    "gt": "is greater than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "in": f"is one of (comma-separated, at most {MAX_LIST_VALUES}; or repeat the parameter)",
    "nin": "is none of (comma-separated; also matches null)",
    "contains": "contains, ignoring case",
    "starts_with": "starts with, ignoring case",
    "exists": "is set (`true`) or null (`false`)",
    "under": "is a descendant, at any depth, of this account",
    "has": "has this tag",
    "any": "has any of these tags (comma-separated)",
    "all": "has all of these tags (comma-separated)",
}


def _query(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema, **extra}


def _filter_parameters() -> list[dict[str, Any]]:
    parameters = []
    for name, field in FILTERABLE.items():
        parameters.append(
            _query(f"filter[{name}]", _value_schema(field.kind, "eq", field), f"`{name}` equals (same as `[eq]`).")
        )
        for op in filter_operators(name):
            parameters.append(
                _query(f"filter[{name}][{op}]", _value_schema(field.kind, op, field), f"`{name}` {_OP_WORDS[op]}.")
            )
    tag_one = {"type": "string", "pattern": QUERY_TEXT_NONEMPTY.replace(_CONTROL, "," + _CONTROL)}
    tag_list = {"type": "string", "pattern": _comma_list(f"[^,{_CONTROL}]+")}
    parameters.append(_query("filter[tags]", tag_one, "Has this tag (same as `[has]`)."))
    for op in FILTER_OPERATORS["tags"]:
        parameters.append(
            _query(f"filter[tags][{op}]", tag_one if op == "has" else tag_list, f"`tags` {_OP_WORDS[op]}.")
        )
    custom_ops = {op: _value_schema("custom", op, None) for op in FILTER_OPERATORS["custom"]}
    parameters.append(
        _query(
            "filter",
            {
                "type": "object",
                "propertyNames": {"pattern": r"^custom_fields\.[a-z][a-z0-9_]{0,63}$"},
                "additionalProperties": {
                    "anyOf": [
                        {"type": "string", "pattern": QUERY_TEXT},
                        {"type": "object", "additionalProperties": False, "properties": custom_ops},
                    ]
                },
            },
            "Custom field filters: `filter[custom_fields.{key}]=v` (equality) and "
            "`filter[custom_fields.{key}][{op}]=v` with op one of "
            f"{', '.join(FILTER_OPERATORS['custom'])}; key matches `{CUSTOM_FIELD_KEY_PATTERN}`. "
            "A value reads as a number when it looks like one, as a boolean for true/false, and always as text; "
            "an array matches eq/in when any element does.",
            style="deepObject",
            explode=True,
            **{
                "x-parameter-patterns": [
                    "filter[custom_fields.{key}]",
                    *(f"filter[custom_fields.{{key}}][{op}]" for op in FILTER_OPERATORS["custom"]),
                ]
            },
        )
    )
    return parameters


def _sort_values() -> list[str]:
    return [value for name in SORTABLE for value in (name, f"-{name}")]


def _list_parameters() -> list[dict[str, Any]]:
    return [
        _query(
            "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, "Page size."
        ),
        _query(
            "cursor",
            {"type": "string"},
            "The `next_cursor` of the previous page, with the same sort, filters, `q` and `include_deleted`; "
            "a forged or foreign cursor is a 400.",
        ),
        _query(
            "sort",
            {"type": "string", "enum": _sort_values(), "default": "-created_at"},
            f"A sort key, `-` for descending. A comma list of up to {MAX_SORT_KEYS} keys (each field once) "
            "is also taken, e.g. `-annual_revenue,name`. Ties break on `id`.",
        ),
        _query(
            "q",
            {"type": "string", "pattern": Q},
            f"Case-insensitive search in name, legal_name, domain, website and description "
            f"(at most {MAX_Q_LENGTH} characters once trimmed).",
        ),
        _query(
            "fields",
            {"type": "array", "minItems": 1, "items": {"type": "string", "enum": [f.name for f in FIELDS]}},
            "Sparse fieldset, comma-separated; `id` is always included.",
            style="form",
            explode=False,
        ),
        _query(
            "include_deleted",
            {"type": "boolean", "default": False},
            "Add soft-deleted accounts (with `filter[is_deleted]=true`: only them).",
        ),
        _query("include_total", {"type": "boolean", "default": False}, "Add `total`, the count of all matches."),
        *_filter_parameters(),
    ]


def _header(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "description": description, "schema": schema}


_REQUEST_ID = _header(
    "X-Request-Id",
    {"type": "string"},
    "A trace id to carry: kept when it matches `[A-Za-z0-9._:-]{1,128}`, otherwise replaced.",
)
_IF_MATCH = _header(
    "If-Match",
    {"type": "string", "pattern": ETAG_LIST},
    'Apply only at this version: `"<version>"` (the ETag), a list of them, or `*`; otherwise 412.',
)
_IF_NONE_MATCH = _header(
    "If-None-Match", {"type": "string", "pattern": ETAG_LIST}, "304 Not Modified when the ETag matches."
)
_IDEMPOTENCY_KEY = _header(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": f"^[!-~]{{1,{MAX_KEY_LENGTH}}}$"},
    "Replays the first response (status, body, headers, `Idempotent-Replayed: true`) for 24 h when the same "
    "key comes with the same request; a different request is a 422, one still running a 409.",
)
_ACCOUNT_ID = {
    "name": "account_id",
    "in": "path",
    "required": True,
    "description": "`acc_<ULID>` (or the same 128 bits as `acc-<uuid>`); anything else is a 404.",
    "schema": {"type": "string", "pattern": f"^{ACCOUNT_ID}$"},
}
_PURGE = _query(
    "purge",
    {"type": "boolean", "default": False},
    "`true` erases the account and its history for good (needs `crm.admin`); no other query parameter is taken.",
)

# --------------------------------------------------------------------------- responses


_HEADERS = {
    "X-Request-Id": {
        "description": "This request's id (the client's when sane).",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    },
    "ETag": {
        "description": 'The account\'s version as a strong tag: `"<version>"`.',
        "required": True,
        "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
    },
    "Location": {
        "description": "The new account's URL.",
        "required": True,
        "schema": {"type": "string", "pattern": f"^{PREFIX}/acc_[0-7][0-9A-HJKMNP-TV-Z]{{25}}$"},
    },
    "Idempotent-Replayed": {
        "description": "Present on a replayed response.",
        "required": False,
        "schema": {"type": "string", "enum": ["true"]},
    },
    "WWW-Authenticate": {
        "description": "`Bearer` with `error` and `error_description`.",
        "required": True,
        "schema": {"type": "string", "pattern": "^Bearer"},
    },
    "WWW-Authenticate-Scope": {
        "description": '`Bearer error="insufficient_scope", scope="…"` when a scope is missing.',
        "required": False,
        "schema": {"type": "string", "pattern": "^Bearer"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "required": False,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "Allow": {"description": "The methods this path takes.", "required": True, "schema": {"type": "string"}},
}


def _headers(*names: str) -> dict[str, Any]:
    out = {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}
    for name in names:
        wire = "WWW-Authenticate" if name == "WWW-Authenticate-Scope" else name
        out[wire] = {"$ref": f"#/components/headers/{name}"}
    return out


def _problem(description: str, *headers: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": _headers(*headers),
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


_PROBLEMS = {
    "BadRequest": _problem(
        "Malformed request: `malformed_json` (body not JSON or not an object), `invalid_parameter` "
        "(unknown or bad query parameter), `bad_request` (bad header such as If-Match)."
    ),
    "Unauthorized": _problem(
        "`unauthorized`: the token is missing, malformed, badly signed, expired or not yet valid.", "WWW-Authenticate"
    ),
    "Forbidden": _problem("`forbidden`: the token lacks a scope this operation needs.", "WWW-Authenticate-Scope"),
    "NotFound": _problem("`not_found`: no such account for this caller (another tenant's or app's answers the same)."),
    "MethodNotAllowed": _problem("`method_not_allowed`: the path does not take this method.", "Allow"),
    "Conflict": _problem(
        "`version_conflict` (the body's `version` is not the account's), `conflict` (restoring a live "
        "account) or `idempotency_in_flight` (the same Idempotency-Key is still running).",
        "Retry-After",
    ),
    "PreconditionFailed": _problem(
        "`precondition_failed`: If-Match names another version; `current_version` says which."
    ),
    "PayloadTooLarge": _problem(f"`payload_too_large`: the body is over {MAX_BODY_BYTES} bytes."),
    "UnsupportedMediaType": _problem("`unsupported_media_type`: the body is not JSON."),
    "UnprocessableContent": _problem(
        "`validation_error` (names every bad field in `errors`) or `idempotency_conflict` "
        "(the Idempotency-Key was used with another request)."
    ),
    "PreconditionRequired": _problem("`precondition_required`: this server requires If-Match (EDM_REQUIRE_IF_MATCH)."),
    "InternalError": _problem("`internal_error`: a bug; the body carries only the request id."),
    "ServiceUnavailable": _problem(
        "`service_unavailable`: the database (or key set) is unreachable; retry.", "Retry-After"
    ),
}

_STATUS_RESPONSE = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "403": "Forbidden",
    "404": "NotFound",
    "409": "Conflict",
    "412": "PreconditionFailed",
    "413": "PayloadTooLarge",
    "415": "UnsupportedMediaType",
    "422": "UnprocessableContent",
    "428": "PreconditionRequired",
    "500": "InternalError",
    "503": "ServiceUnavailable",
}


def _errors(*statuses: int) -> dict[str, Any]:
    every = (400, 401, 403, 500, 503)
    return {
        str(status): {"$ref": f"#/components/responses/{_STATUS_RESPONSE[str(status)]}"}
        for status in sorted({*every, *statuses})
    }


def _json(ref: str, description: str, *headers: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": _headers(*headers),
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _links(source: str, *targets: str) -> dict[str, Any]:
    """What a response's account leads to: the operations on the same account."""
    account_id = "$request.path.account_id" if source == "path" else "$response.body#/id"
    links: dict[str, Any] = {}
    for target in targets:
        parameters: dict[str, str] = {"account_id": account_id}
        if target in ("updateAccount", "deleteAccount") and source == "body":
            parameters["header.If-Match"] = "$response.header.ETag"
        links[target] = {"operationId": target, "parameters": parameters}
    return links


_EXAMPLES = {
    "AccountCreate": {
        "name": "Globex",
        "domain": "globex.example",
        "industry": "Manufacturing",
        "tags": ["b2b", "emea"],
        "custom_fields": {"tier": "gold"},
    },
    "AccountPatch": {"industry": "Retail", "custom_fields": {"tier": "platinum"}, "tags": None},
}


def _body(ref: str, *media_types: str) -> dict[str, Any]:
    media = {"schema": {"$ref": f"#/components/schemas/{ref}"}, "example": _EXAMPLES[ref]}
    return {"required": True, "content": {media_type: media for media_type in media_types}}


def _op(operation_id: str, description: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    first = _operation(operation_id)
    methods = _sdk_methods(operation_id)
    scopes = sorted({s for op in OPERATIONS if op.operation_id == operation_id for s in op.scopes})
    return {
        "operationId": operation_id,
        "tags": ["accounts"],
        "summary": first.summary,
        "description": description
        + f"\n\nScopes: a token with a `scope` claim needs `{'` or `'.join(first.scopes)}`"
        + (f" (`{ADMIN_SCOPE}` with `purge=true`)" if len(scopes) > 1 else "")
        + "; a token without one (a human session) may read and write"
        + (", but not purge." if len(scopes) > 1 else "."),
        "security": [{"bearer": list(first.scopes)}],
        "x-sdk-methods": methods,
        "x-scopes": scopes,
        **extra,
        "responses": responses,
    }


def _paths() -> dict[str, Any]:
    return {
        PREFIX: {
            "get": _op(
                "listAccounts",
                "One page of the caller's accounts, newest first unless `sort` says otherwise. "
                "Any other query parameter is a 400 naming it.",
                {"200": _json("AccountList", "A page of accounts."), **_errors()},
                parameters=[*_list_parameters(), _REQUEST_ID],
            ),
            "post": _op(
                "createAccount",
                "Create an account from its client-writable fields.",
                {
                    "201": _json("Account", "Created.", "Location", "ETag", "Idempotent-Replayed")
                    | {"links": _links("body", "getAccount", "updateAccount", "deleteAccount")},
                    **_errors(409, 413, 415, 422),
                },
                parameters=[_IDEMPOTENCY_KEY, _REQUEST_ID],
                requestBody=_body("AccountCreate", "application/json"),
            ),
        },
        _ITEM: {
            "parameters": [_ACCOUNT_ID],
            "get": _op(
                "getAccount",
                "One account. Soft-deleted accounts are a 404.",
                {
                    "200": _json("Account", "The account.", "ETag"),
                    "304": {
                        "description": "Not modified: If-None-Match names the current version.",
                        "headers": _headers("ETag"),
                    },
                    **_errors(404),
                },
                parameters=[_IF_NONE_MATCH, _REQUEST_ID],
            ),
            "patch": _op(
                "updateAccount",
                "Apply a JSON Merge Patch. `version` in the body (409) or If-Match (412) makes it conditional.",
                {
                    "200": _json("Account", "The updated account.", "ETag")
                    | {"links": _links("body", "getAccount", "deleteAccount")},
                    **_errors(404, 409, 412, 413, 415, 422, 428),
                },
                parameters=[_IF_MATCH, _REQUEST_ID],
                requestBody=_body("AccountPatch", "application/json", "application/merge-patch+json"),
            ),
            "delete": _op(
                "deleteAccount",
                "Soft-delete the account (it drops out of list and get; `restore` brings it back). "
                "With `purge=true`, erase it and its history for good, live or deleted.",
                {
                    "204": {
                        "description": "Deleted.",
                        "headers": _headers(),
                        "links": _links("path", "restoreAccount", "getAccount"),
                    },
                    **_errors(404, 412, 428),
                },
                parameters=[_PURGE, _IF_MATCH, _REQUEST_ID],
            ),
        },
        _ITEM + "/restore": {
            "parameters": [_ACCOUNT_ID],
            "post": _op(
                "restoreAccount",
                "Bring back a soft-deleted account (409 `conflict` when it is not deleted).",
                {
                    "200": _json("Account", "The restored account.", "ETag", "Idempotent-Replayed")
                    | {"links": _links("body", "getAccount", "updateAccount", "deleteAccount")},
                    **_errors(404, 409, 412, 422, 428),
                },
                parameters=[_IF_MATCH, _IDEMPOTENCY_KEY, _REQUEST_ID],
            ),
        },
        MANIFEST_PATH: {
            "get": {
                "operationId": "getManifest",
                "tags": ["meta"],
                "summary": "The API manifest",
                "description": "Resources, operations (method, path, scopes, SDK method) and the field table; no token needed.",
                "security": [],
                "responses": {
                    "200": _json("Manifest", "The manifest."),
                    "500": {"$ref": "#/components/responses/InternalError"},
                },
            }
        },
    }


def build_openapi() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "EDM CRM API",
            "version": API_VERSION,
            "description": "Multi-tenant CRM records. Every request under `/api/v1/crm/` needs `Authorization: Bearer <JWT>` "
            "(claims `sub`, `tenant_id`, `exp`; optional `app_id`, `scope`). Every response carries `X-Request-Id`; "
            "every error is `application/problem+json`. A method a path does not take is a 405 with `Allow`. "
            f"The machine-readable manifest is at `{MANIFEST_PATH}`.",
        },
        "servers": [{"url": "/", "description": "The server that serves this document"}],
        "tags": [
            {"name": "accounts", "description": f"Customer organizations: `{SDK_RESOURCE}`."},
            {"name": "meta", "description": "Documents about the API."},
        ],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "schemas": {**_account_schemas(), "Problem": _PROBLEM, "Manifest": _MANIFEST},
            "headers": _HEADERS,
            "responses": _PROBLEMS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "HS256 (EDM_JWT_SECRET) or RS256/ES256/EdDSA from a JWKS; "
                    f"scopes `{READ_SCOPE}`, `{WRITE_SCOPE}`, `{ADMIN_SCOPE}`.",
                }
            },
        },
    }
