"""A resource's part of the OpenAPI document: its schemas and list parameters.

Everything here is read from the resource's fields (their kinds, limits and
formats, each format carrying its own documented pattern), the listing
grammar and the resource's hooks.  Request schemas describe exactly what the
server accepts: a value they allow is never refused as invalid, and a value
they forbid is refused.  Schemathesis checks both directions against the
running server (``tests/test_schemathesis.py``).  Response schemas describe
what the server sends, which is stricter (canonical ids, UTC timestamps,
de-duplicated tags).
"""

from __future__ import annotations

from typing import Any, Literal

from edm.crm.engine import formats, patterns
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
from edm.crm.engine.formats import with_article
from edm.crm.engine.listing import (
    DEFAULT_LIMIT,
    FILTER_OPERATORS,
    MAX_FILTERS,
    MAX_LIMIT,
    MAX_LIST_VALUES,
    MAX_Q_LENGTH,
    MAX_QUERY_BYTES,
    MAX_SORT_KEYS,
    MAX_VALUE_LENGTH,
    ListGrammar,
)
from edm.crm.engine.resource import Resource
from edm.crm.engine.schemas import Address as AddressModel
from edm.kit.web.openapi import query_parameter

__all__ = ["field_schema", "resource_schemas", "list_parameters", "filter_parameter", "is_filter_parameter", "Direction"]

Direction = Literal["in", "out"]  # what a request may send / what a response holds

_SCALAR_IN = {
    "type": ["string", "number", "boolean", "null"],
    "pattern": patterns.NO_NUL,
    "minimum": patterns.INT64_MIN,
    "maximum": patterns.INT64_MAX,
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
                "enum": [*sorted(formats.COUNTRIES), None],
                "description": "ISO 3166-1 alpha-2; input is case-insensitive, output upper-case.",
            }
        else:
            properties[key] = {"type": ["string", "null"], "maxLength": _address_max_length(key), "pattern": patterns.NO_NUL}
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if direction == "out":
        schema["required"] = list(ADDRESS_KEYS)
    return schema


def _string_schema(field: Field, out: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    fmt = field.format
    if field.max_length and not (fmt and fmt.sets_length):
        schema["maxLength"] = field.max_length
    if fmt is not None:
        schema |= fmt.output_schema if out else fmt.input_schema
    elif field.client_writable:
        schema["pattern"] = patterns.NO_NUL
    return schema


def field_schema(field: Field, direction: Direction = "in") -> dict[str, Any]:
    """The JSON Schema of one field's value, without null.

    ``direction="in"`` is what a request may send, ``"out"`` what a response holds.
    """
    out = direction == "out"
    schema: dict[str, Any]
    if field.kind in ("string", "id"):
        schema = _string_schema(field, out)
    elif field.kind == "enum":
        schema = {"type": "string", "enum": list(field.enum or ())}
    elif field.kind == "boolean":
        schema = {"type": "boolean"}
    elif field.kind in ("integer", "number"):
        low, high = field.bounds
        schema = {"type": field.kind, "minimum": low}
        if high is not None:
            schema["maximum"] = high
    elif field.kind == "date-time":
        schema = {"type": "string", "format": "date-time"}
        if out:
            schema["pattern"] = patterns.DATE_TIME_OUT
        else:
            schema |= {"maxLength": 64, "pattern": patterns.DATE_TIME_RANGE}
    elif field.kind == "addresses":
        schema = {
            "type": "array",
            "maxItems": MAX_ADDRESSES,
            "items": {"$ref": f"#/components/schemas/Address{'' if out else 'Input'}"},
        }
    elif field.kind == "tags":
        tag = {"type": "string", "minLength": 1, "maxLength": MAX_TAG_LENGTH, "pattern": patterns.NO_NUL}
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
    return {**schema, "description": describe(field)}


_KIND_NOTES = {
    "tags": f" At most {MAX_TAGS} distinct tags; duplicates are dropped, first order kept.",
    "custom_fields": f" At most {MAX_CUSTOM_FIELDS} keys and {MAX_CUSTOM_FIELDS_BYTES} bytes serialized;"
    " in an update, keys merge one by one and null removes a key.",
}


def describe(field: Field) -> str:
    return field.description + (field.format.note if field.format else _KIND_NOTES.get(field.kind, ""))


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


def resource_schemas(resource: Resource) -> dict[str, Any]:
    """``<Title>``, ``<Title>Partial``, ``<Title>Create``, ``<Title>Patch``, ``<Title>List``."""
    title, noun = resource.title, resource.noun
    out = {
        f.name: field_schema(f, "out") if f.never_null else _nullable(field_schema(f, "out")) for f in resource.fields
    }
    record = {
        "type": "object",
        "description": f"{with_article(noun).capitalize()}: every field of the field table, always present (`null` where unset).",
        "required": list(resource.field_names),
        "additionalProperties": False,
        "properties": out,
    }
    partial = {
        "type": "object",
        "description": f"{with_article(noun).capitalize()} in a list page: every field, or with `fields=` only `id` and the fields named.",
        "required": ["id"],
        "additionalProperties": False,
        "properties": out,
    }
    required = [f.name for f in resource.client_fields if f.required]
    create = {
        "type": "object",
        "description": "The client-writable fields"
        + (f"; {', '.join(f'`{n}`' for n in required)} {'is' if len(required) == 1 else 'are'} required" if required else "")
        + ", every other field may be left out or null (its default).",
        "additionalProperties": False,
        "required": required,
        "properties": {
            f.name: field_schema(f) if f.required else _nullable(field_schema(f)) for f in resource.client_fields
        },
    }
    patch = {
        "type": "object",
        "description": "A JSON Merge Patch (RFC 7396): absent keys are untouched, null clears (back to the default), "
        "`custom_fields` merges key by key, arrays replace.",
        "additionalProperties": False,
        "properties": {
            **{f.name: field_schema(f) if not f.nullable else _nullable(field_schema(f)) for f in resource.client_fields},
            "version": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": patterns.INT64_MAX,
                "description": f"Apply only when the {noun} is at this version; else 409 `version_conflict`.",
            },
        },
    }
    page = {
        "type": "object",
        "required": ["object", "data", "has_more", "next_cursor"],
        "additionalProperties": False,
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "maxItems": MAX_LIMIT, "items": {"$ref": f"#/components/schemas/{title}Partial"}},
            "has_more": {"type": "boolean"},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last.",
            },
            "total": {"type": "integer", "minimum": 0, "description": "All matches; only with `include_total=true`."},
        },
    }
    return {
        title: record,
        f"{title}Partial": partial,
        f"{title}Create": create,
        f"{title}Patch": patch,
        f"{title}List": page,
        **change_schemas(resource),
    }


def _envelope(item: str, cursor_note: str, *, nullable_cursor: bool) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["object", "data", "has_more", "next_cursor"],
        "additionalProperties": False,
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "maxItems": MAX_LIMIT, "items": {"$ref": f"#/components/schemas/{item}"}},
            "has_more": {"type": "boolean"},
            "next_cursor": {"type": ["string", "null"] if nullable_cursor else "string", "description": cursor_note},
        },
    }


def change_schemas(resource: Resource) -> dict[str, Any]:
    """``<Title>HistoryEntry``, ``<Title>History``, ``<Title>Event``, ``<Title>EventList`` (docs/changes.md)."""
    title, noun = resource.title, resource.noun
    at = {"type": "string", "format": "date-time"}
    entry = {
        "type": "object",
        "description": f"One version of {with_article(noun)}: which write made it, when, by whom, and what it changed.",
        "required": ["version", "op", "at", "by", "app_id", "changes"],
        "additionalProperties": False,
        "properties": {
            "version": {"type": "integer", "minimum": 1},
            "op": {"enum": ["create", "update", "delete", "restore"]},
            "at": at,
            "by": {"type": "string", "description": "The `sub` of the caller who wrote."},
            "app_id": {"type": ["string", "null"], "description": "The app of the caller who wrote (null: a person)."},
            "changes": {
                "type": ["object", "null"],
                "description": "`{field: [old, new]}`; a create lists the fields it set.",
                "additionalProperties": {"type": "array", "minItems": 2, "maxItems": 2},
            },
        },
    }
    event = {
        "type": "object",
        "description": f"A change to {with_article(noun)}; `data` is the {noun} after it (null once purged).",
        "required": ["id", "type", resource.id_parameter, "version", "at", "by", "data"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": "^evt_[0-9A-HJKMNP-TV-Z]{26}$"},
            "type": {"enum": [f"{noun}.{verb}" for verb in ("created", "updated", "deleted", "restored", "purged")]},
            resource.id_parameter: {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
            "at": at,
            "by": {"type": "string"},
            "data": {"oneOf": [{"$ref": f"#/components/schemas/{title}"}, {"type": "null"}]},
        },
    }
    return {
        f"{title}HistoryEntry": entry,
        f"{title}History": _envelope(
            f"{title}HistoryEntry", "Pass as `cursor` for the next (older) page; null on the last.", nullable_cursor=True
        ),
        f"{title}Event": event,
        f"{title}EventList": _envelope(
            f"{title}Event",
            "Always present: pass as `after` to read on from here, now or later (also when `data` is empty).",
            nullable_cursor=False,
        ),
    }


def shared_schemas() -> dict[str, Any]:
    """Schemas every resource with addresses refers to."""
    return {"Address": _address("out"), "AddressInput": _address("in")}



# --------------------------------------------------------------------------- list parameters


# Filter values are bounded by their patterns, not by maxLength: the reference
# lists some 300 filter parameters, and a tool that sends each at maxLength + 1
# at once builds a 350 KB URL, which uvicorn refuses (past about 64 KB) before
# the API can answer.
_QUERY_TEXT = patterns.at_most(patterns.QUERY_TEXT, MAX_VALUE_LENGTH)
_QUERY_TEXT_NONEMPTY = patterns.at_most(patterns.QUERY_TEXT_NONEMPTY, MAX_VALUE_LENGTH)
_ITEM_PATTERNS = {
    "string": f"[^,{patterns.CONTROL}]*",
    "custom": f"[^,{patterns.CONTROL}]*",
    "integer": patterns.INT64_ITEM,
    "number": patterns.NUMBER_ITEM,
    "date-time": patterns.DATE_TIME_ITEM,
}


def _value_schema(kind: str, op: str, field: Field | None) -> dict[str, Any]:
    """The schema of the query value of ``filter[...][op]`` on a field of this kind."""
    if op == "exists":
        return {"type": "boolean"}
    if op in ("contains", "starts_with"):
        return {"type": "string", "pattern": _QUERY_TEXT_NONEMPTY}
    if op in ("in", "nin"):
        if kind == "enum" and field:
            item = f"(?:{'|'.join(field.enum or ())})"
        elif field is not None and field.format is not None and field.format.filter_item:
            item = field.format.filter_item
        else:
            item = _ITEM_PATTERNS[kind]
        return {"type": "string", "pattern": patterns.comma_list(item, MAX_LIST_VALUES, MAX_VALUE_LENGTH)}
    if kind in ("string", "custom"):
        return {"type": "string", "pattern": _QUERY_TEXT}
    if kind == "id":
        assert field is not None and field.format is not None
        return {"type": "string", **field.format.input_schema}
    if kind == "enum":
        return {"type": "string", "enum": list(field.enum or ()) if field else []}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "integer":
        return {"type": "integer", "minimum": patterns.INT64_MIN, "maximum": patterns.INT64_MAX}
    if kind == "number":
        return {"type": "number"}
    return {"type": "string", "format": "date-time", "pattern": patterns.at_most(patterns.DATE_TIME_RANGE, MAX_VALUE_LENGTH)}


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
    "has": "has this tag",
    "any": "has any of these tags (comma-separated)",
    "all": "has all of these tags (comma-separated)",
}


def _filter_parameters(resource: Resource, grammar: ListGrammar) -> list[dict[str, Any]]:
    hooks = resource.hooks
    words = {**_OP_WORDS, **hooks.operator_words}
    parameters = []
    for name, field in resource.filterable.items():
        parameters.append(
            query_parameter(f"filter[{name}]", _value_schema(field.kind, "eq", field), f"`{name}` equals (same as `[eq]`).")
        )
        for op in grammar.operators(name):
            schema = (
                _value_schema(field.kind, op, field)
                if op in FILTER_OPERATORS[field.kind]
                else hooks.operator_schema(field, op)
            )
            parameters.append(query_parameter(f"filter[{name}][{op}]", schema, f"`{name}` {words[op]}."))
    query_text_no_comma = patterns.QUERY_TEXT_NONEMPTY.replace(patterns.CONTROL, "," + patterns.CONTROL)
    tag_one = {"type": "string", "pattern": patterns.at_most(query_text_no_comma, MAX_VALUE_LENGTH)}
    tag_list = {
        "type": "string",
        "pattern": patterns.comma_list(f"[^,{patterns.CONTROL}]+", MAX_LIST_VALUES, MAX_VALUE_LENGTH),
    }
    parameters.append(query_parameter("filter[tags]", tag_one, "Has this tag (same as `[has]`)."))
    for op in FILTER_OPERATORS["tags"]:
        parameters.append(
            query_parameter(f"filter[tags][{op}]", tag_one if op == "has" else tag_list, f"`tags` {words[op]}.")
        )
    custom_ops = {op: _value_schema("custom", op, None) for op in FILTER_OPERATORS["custom"]}
    parameters.append(
        query_parameter(
            "filter",
            {
                "type": "object",
                "maxProperties": MAX_FILTERS,
                "propertyNames": {"pattern": r"^custom_fields\.[a-z][a-z0-9_]{0,63}$"},
                "additionalProperties": {
                    "anyOf": [
                        {"type": "string", "pattern": _QUERY_TEXT},
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


def list_parameters(resource: Resource, grammar: ListGrammar) -> list[dict[str, Any]]:
    sort_values = [value for name in resource.sortable for value in (name, f"-{name}")]
    own = [f.name for f in resource.own_fields if f.sortable] or ["updated_at"]
    example = f"-{own[-1]},{own[0] if len(own) > 1 else 'created_at'}"
    search = []
    if resource.searched:
        search.append(
            query_parameter(
                "q",
                {"type": "string", "pattern": patterns.search_term(MAX_Q_LENGTH)},
                f"Case-insensitive search in {_series(resource.searched)} "
                f"(at most {MAX_Q_LENGTH} characters once trimmed).",
            )
        )
    return [
        query_parameter(
            "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, "Page size."
        ),
        query_parameter(
            "cursor",
            {"type": "string"},
            "The `next_cursor` of the previous page, with the same sort, filters, `q` and `include_deleted`; "
            "a forged or foreign cursor is a 400.",
        ),
        query_parameter(
            "sort",
            {"type": "string", "enum": sort_values, "default": "-created_at"},
            f"A sort key, `-` for descending. A comma list of up to {MAX_SORT_KEYS} keys (each field once) "
            f"is also taken, e.g. `{example}`. Ties break on `id`.",
        ),
        *search,
        query_parameter(
            "fields",
            {
                "type": "array",
                "minItems": 1,
                "maxItems": len(resource.field_names),
                "items": {"type": "string", "enum": list(resource.field_names)},
            },
            "Sparse fieldset, comma-separated; `id` is always included.",
            style="form",
            explode=False,
        ),
        query_parameter(
            "include_deleted",
            {"type": "boolean", "default": False},
            f"Add soft-deleted {resource.name} (with `filter[is_deleted]=true`: only them).",
        ),
        query_parameter("include_total", {"type": "boolean", "default": False}, "Add `total`, the count of all matches."),
        *_filter_parameters(resource, grammar),
    ]


def list_limits_note() -> str:
    """What a list request may carry, as the API reference says it."""
    return (
        f"A request carries at most {MAX_FILTERS} `filter[…]` parameters (a repeated `in`/`nin` counts once), "
        f"{MAX_LIST_VALUES} values per `in`, `nin`, `any` or `all`, {MAX_VALUE_LENGTH} characters per filter value "
        f"and {MAX_QUERY_BYTES} bytes of query string as sent; past any of these it is a 400 naming the parameter "
        "(`filter`, the parameter, or `query_string`) and the limit."
    )


def _series(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# --------------------------------------------------------------------------- filtering, documented once


def _kind_value(field: Field) -> str:
    """What a filter value of this field's kind looks like."""
    if field.kind == "id":
        prefix = field.format.prefix if field.format else "id"
        return f"`{prefix}_<ULID>` or `{prefix}-<uuid>`"
    if field.kind == "enum":
        return ", ".join(field.enum or ())
    return {
        "string": "text, exact (gt…lte compare as text)",
        "boolean": "true or false",
        "integer": "a whole number",
        "number": "a decimal number",
        "date-time": "RFC 3339 with an offset, e.g. 2024-05-01T00:00:00Z",
    }[field.kind]


_KIND_NAMES = {"string": "text"}
_CUSTOM = "custom_fields.KEY"
# The built-in operators in a few words; a resource's own come from its hooks' operator_words.
_OP_MEANINGS = (
    "**eq**, **ne**: equal, differ (ne also matches null); **gt**, **gte**, **lt**, **lte**: >, ≥, <, ≤; "
    "**in**, **nin**: one of, none of (nin also matches null; in may also be repeated); "
    "**exists**: true for set, false for null; **contains**, **starts_with**: ignoring case; "
    "**has**, **any**, **all**: the tag, any of the tags, all of them"
)


def filter_parameter(resource: Resource, grammar: ListGrammar) -> dict[str, Any]:
    """The ``filter`` parameters as one deepObject parameter whose description
    is the whole grammar: what the reference page shows instead of one
    parameter per field and operator (the complete document keeps those)."""
    by_operators: dict[tuple[str, ...], dict[str, list[str]]] = {}
    values: dict[str, str] = {}
    for name, field in resource.filterable.items():
        kind = _KIND_NAMES.get(field.kind, field.kind)
        by_operators.setdefault(grammar.operators(name), {}).setdefault(kind, []).append(name)
        values.setdefault(kind, _kind_value(field))
    by_operators.setdefault(FILTER_OPERATORS["custom"], {})["custom fields"] = [_CUSTOM]
    by_operators.setdefault(FILTER_OPERATORS["tags"], {})["tags"] = ["tags"]
    rows = [
        f"- **{' '.join(ops)}**: " + "; ".join(f"{kind}: {', '.join(names)}" for kind, names in kinds.items())
        for ops, kinds in by_operators.items()
    ]
    own_words = "".join(f"; **{op}**: {words}" for op, words in resource.hooks.operator_words.items())
    own_numbers = [f.name for f in resource.own_fields if f.filterable and f.kind in ("integer", "number")]
    example = f"filter[{own_numbers[0]}][gte]=50" if own_numbers else "filter[created_at][gte]=2024-01-01T00:00:00Z"
    if resource.create_example.get("tags"):
        example += f"&filter[tags][any]={','.join(resource.create_example['tags'][:2])}"
    description = "\n".join(
        [
            (
                "`filter[FIELD][OP]=VALUE` keeps the records whose field matches; `filter[FIELD]=VALUE` is `[eq]` "
                "(`[has]` on tags). Filters combine with AND; `in`, `nin`, `any` and `all` take a comma-separated "
                f"list. At most {MAX_FILTERS} filters, {MAX_LIST_VALUES} values per list, {MAX_VALUE_LENGTH} "
                f"characters per value. Example: `{example}`."
            ),
            "",
            "Operators, by field:",
            "",
            *rows,
            "",
            f"Meanings: {_OP_MEANINGS}{own_words}.",
            "",
            (
                "Values: " + "; ".join(f"{kind}: {value}" for kind, value in values.items()) + f"; {_CUSTOM} "
                f"(KEY matching `{CUSTOM_FIELD_KEY_PATTERN}`): read as a number when it looks like one, as a boolean "
                "for true or false, and always as text; an array value matches eq or in when any element does."
            ),
        ]
    )
    return query_parameter(
        "filter",
        {"type": "object", "maxProperties": MAX_FILTERS, "additionalProperties": {"type": ["string", "object"]}},
        description,
        style="deepObject",
        explode=True,
    )


def is_filter_parameter(parameter: dict[str, Any]) -> bool:
    """A ``filter[...]`` parameter of the complete document (or its custom-field ``filter``)."""
    return parameter.get("in") == "query" and str(parameter.get("name", "")).startswith("filter")
