"""The list query (docs/listing.md): parsed and type-checked, before any SQL.

``ListGrammar(resource).parse`` turns query parameters into a ``ListQuery``
or raises an ``InvalidParameter`` (400) naming the parameter.  The allowed
filters, their operators and the sorts all come from the resource's fields
(and its hooks' extra operators).

What a request may carry is capped here, before any SQL is built, so that
neither a statement nor a worker's caches grow past what these allow: the
query string's length, the number of filters, values per list, characters
per value, sort keys and sparse fields.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from edm.crm.engine import formats
from edm.crm.engine.fields import CUSTOM_FIELD_KEY_PATTERN, Field
from edm.crm.engine.resource import Resource
from edm.kit.errors import FieldError, InvalidParameter

__all__ = ["Filter", "SortKey", "ListQuery", "ListGrammar", "FILTER_OPERATORS", "DEFAULT_SORT", "PARAMETERS"]

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
MAX_QUERY_BYTES = 16_384  # the query string as sent (percent-encoded)
MAX_FILTERS = 25  # filter[...] parameters (a repeated in/nin parameter counts once)
MAX_LIST_VALUES = 100  # values of one in, nin, any or all
MAX_VALUE_LENGTH = 2048  # characters of one filter value or list item
MAX_SORT_KEYS = 4
MAX_Q_LENGTH = 200

_COMPARE = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "exists")
FILTER_OPERATORS: dict[str, tuple[str, ...]] = {
    "string": (*_COMPARE, "contains", "starts_with"),
    "id": ("eq", "ne", "in", "nin", "exists"),
    "enum": ("eq", "ne", "in", "nin", "exists"),
    "boolean": ("eq", "ne", "exists"),
    "integer": _COMPARE,
    "number": _COMPARE,
    "date-time": _COMPARE,
    "custom": (*_COMPARE, "contains", "starts_with"),
    "tags": ("has", "any", "all"),
}
_FILTER_KEY = re.compile(r"filter\[([^\[\]]+)\](?:\[([^\[\]]+)\])?")
_CUSTOM_KEY = re.compile(CUSTOM_FIELD_KEY_PATTERN)
_INTEGER = re.compile(r"-?\d{1,19}")
PARAMETERS = ("limit", "cursor", "sort", "q", "fields", "include_deleted", "include_total")


@dataclass(frozen=True, slots=True)
class Filter:
    """One predicate.  ``field`` is a field name, ``custom_fields`` (with ``key``) or ``tags``."""

    field: str
    op: str
    value: Any  # typed for the field; a tuple for in/nin/any/all; bool for exists
    key: str | None = None
    kind: str = "string"  # the field's kind; "custom" for custom fields


@dataclass(frozen=True, slots=True)
class SortKey:
    field: str
    descending: bool
    nullable: bool = True
    column: str = ""  # what the database compares: the field, or its sort key column

    def __post_init__(self) -> None:
        if not self.column:
            object.__setattr__(self, "column", self.field)


DEFAULT_SORT = (SortKey("created_at", True, nullable=False),)


@dataclass(frozen=True, slots=True)
class ListQuery:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    sort: tuple[SortKey, ...] = DEFAULT_SORT
    filters: tuple[Filter, ...] = ()
    q: str | None = None
    include_deleted: bool = False
    fields: tuple[str, ...] | None = None
    include_total: bool = False

    def fingerprint(self, tenant_id: str, app_id: str | None) -> str:
        """What a cursor is bound to: who asks, and which rows in which order."""
        shape = [
            tenant_id,
            app_id,
            [[s.field, s.descending] for s in self.sort],
            sorted([f.field, f.key, f.op, _plain(f.value)] for f in self.filters),
            self.q,
            self.include_deleted,
        ]
        return hashlib.sha256(orjson.dumps(shape, default=str)).hexdigest()[:32]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _bad(parameter: str, message: str) -> InvalidParameter:
    return InvalidParameter(f"{parameter}: {message}", errors=[FieldError(parameter, message)])


def _text(parameter: str, value: str) -> str:
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise _bad(parameter, "must not contain control characters")
    problem = formats.text_problem(value)
    if problem:
        raise _bad(parameter, problem)
    return value


def _value(parameter: str, value: str) -> str:
    """One filter value (or list item): bounded, then checked as text."""
    if len(value) > MAX_VALUE_LENGTH:
        raise _bad(parameter, f"each value must be at most {MAX_VALUE_LENGTH} characters")
    return _text(parameter, value)


def _boolean(parameter: str, raw: str) -> bool:
    if raw in ("true", "false"):
        return raw == "true"
    raise _bad(parameter, "must be true or false")


def _typed(parameter: str, field: Field, raw: str) -> Any:
    """A filter value as the field's type, or a 400 naming the parameter."""
    raw = _value(parameter, raw)
    kind = field.kind
    if kind == "boolean":
        return _boolean(parameter, raw)
    if kind == "integer":
        if not _INTEGER.fullmatch(raw) or not -(2**63) <= int(raw) < 2**63:
            raise _bad(parameter, "must be an integer")
        return int(raw)
    if kind == "number":
        try:
            number = float(raw)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise _bad(parameter, "must be a finite number")
        return number
    if kind == "date-time":
        try:
            return formats.rfc3339(raw)
        except ValueError as exc:
            raise _bad(parameter, str(exc)) from None
    if kind == "enum":
        if raw not in (field.enum or ()):
            raise _bad(parameter, f"must be one of {', '.join(field.enum or ())}")
        return raw
    if field.format is not None:
        try:
            return field.format.filter_value(raw)
        except ValueError as exc:
            raise _bad(parameter, str(exc)) from None
    return raw


def _split(values: Iterable[str]) -> list[str]:
    return [part for value in values for part in value.split(",")]


class ListGrammar:
    """The list parameters one resource takes."""

    def __init__(self, resource: Resource) -> None:
        self._by_name = resource.by_name
        self._filterable = resource.filterable
        self._sortable = resource.sortable
        self._searchable = bool(resource.searched)
        self._hooks = resource.hooks
        self._parameters = PARAMETERS if self._searchable else tuple(p for p in PARAMETERS if p != "q")

    def operators(self, field_name: str) -> tuple[str, ...]:
        """The operators ``filter[FIELD][OP]`` takes for a filterable field."""
        field = self._filterable[field_name]
        return FILTER_OPERATORS[field.kind] + self._hooks.extra_operators.get(field_name, ())

    def _parse_filter(self, parameter: str, field_name: str, op: str | None, raws: list[str]) -> Filter:
        if field_name == "tags":
            mode = op or "has"
            if mode not in FILTER_OPERATORS["tags"]:
                raise _bad(parameter, "tags take has, any or all")
            items = _split(raws)
            if len(items) > MAX_LIST_VALUES:
                raise _bad(parameter, f"must be 1–{MAX_LIST_VALUES} non-empty tags")
            tags = tuple(dict.fromkeys(_value(parameter, t) for t in items))
            if not tags or any(not t for t in tags):
                raise _bad(parameter, f"must be 1–{MAX_LIST_VALUES} non-empty tags")
            if mode == "has" and len(tags) != 1:
                raise _bad(parameter, "takes one tag; use [any] or [all] for several")
            return Filter("tags", mode, tags, kind="tags")

        op = op or "eq"
        if field_name.startswith("custom_fields."):
            key = field_name.removeprefix("custom_fields.")
            if not _CUSTOM_KEY.fullmatch(key):
                raise _bad(parameter, "custom field keys match ^[a-z][a-z0-9_]{0,63}$")
            field, kind, allowed = None, "custom", FILTER_OPERATORS["custom"]
        elif field_name in self._filterable:
            key, field = None, self._filterable[field_name]
            kind, allowed = field.kind, self.operators(field_name)
        else:
            raise _bad(parameter, f"{field_name} cannot be filtered on")

        if op not in allowed:
            raise _bad(parameter, f"operator {op} is not one of {', '.join(allowed)}")
        if op not in ("in", "nin") and len(raws) > 1:
            raise _bad(parameter, "is given more than once")

        def one(raw: str) -> Any:
            if field is None:
                return _value(parameter, raw)
            return _typed(parameter, field, raw)

        if op == "exists":
            value: Any = _boolean(parameter, raws[0])
        elif op in ("in", "nin"):
            items = _split(raws)
            if not items or len(items) > MAX_LIST_VALUES:
                raise _bad(parameter, f"takes 1–{MAX_LIST_VALUES} comma-separated values")
            value = tuple(dict.fromkeys(one(item) for item in items))
        elif field is not None and op not in FILTER_OPERATORS[kind]:  # a hook's operator
            try:
                value = self._hooks.parse_operator(field, op, _value(parameter, raws[0]))
            except ValueError as exc:
                raise _bad(parameter, str(exc)) from None
        elif op in ("contains", "starts_with"):
            value = _value(parameter, raws[0])
            if not value:
                raise _bad(parameter, "must not be empty")
        else:
            value = one(raws[0])
        return Filter("custom_fields" if field is None else field_name, op, value, key, kind)

    def _parse_sort(self, raw: str) -> tuple[SortKey, ...]:
        keys: list[SortKey] = []
        for part in raw.split(","):
            descending = part.startswith("-")
            name = part.removeprefix("-")
            field = self._sortable.get(name)
            if field is None:
                raise _bad("sort", f"{name or '(empty)'} is not one of {', '.join(self._sortable)}")
            if any(k.field == name for k in keys):
                raise _bad("sort", f"{name} is given more than once")
            keys.append(SortKey(name, descending, nullable=not field.never_null, column=field.sort_column))
        if len(keys) > MAX_SORT_KEYS:
            raise _bad("sort", f"takes at most {MAX_SORT_KEYS} fields")
        return tuple(keys)

    def parse_query_string(self, query_string: bytes) -> ListQuery:
        """The raw query string of a list request → a checked ``ListQuery``; its length is checked first."""
        if len(query_string) > MAX_QUERY_BYTES:
            raise _bad("query_string", f"must be at most {MAX_QUERY_BYTES} bytes (it has {len(query_string)})")
        # decoded as Starlette decodes ``request.query_params``
        return self.parse(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))

    def parse(self, items: list[tuple[str, str]]) -> ListQuery:
        """Query parameters (in order, repeats kept) → a checked ``ListQuery``."""
        plain: dict[str, str] = {}
        filters: dict[tuple[str, str | None], tuple[str, list[str]]] = {}
        for name, value in items:
            match = _FILTER_KEY.fullmatch(name)
            if match:
                field_name, op = match.group(1), match.group(2)
                if (field_name, op) not in filters and len(filters) == MAX_FILTERS:
                    raise _bad("filter", f"at most {MAX_FILTERS} filters are taken in one request")
                filters.setdefault((field_name, op), (name, []))[1].append(value)
            elif name in self._parameters:
                if name in plain:
                    raise _bad(name, "is given more than once")
                plain[name] = value
            else:
                raise _bad(name, "is not a known query parameter")

        limit = DEFAULT_LIMIT
        if "limit" in plain:
            if not re.fullmatch(r"\d{1,4}", plain["limit"]) or not 1 <= int(plain["limit"]) <= MAX_LIMIT:
                raise _bad("limit", f"must be an integer from 1 to {MAX_LIMIT}")
            limit = int(plain["limit"])

        fields = None
        if "fields" in plain:
            names = [n for n in plain["fields"].split(",") if n]
            if len(names) > len(self._by_name):
                raise _bad("fields", f"takes at most {len(self._by_name)} field names")
            unknown = [n for n in names if n not in self._by_name]
            if unknown or not names:
                raise _bad("fields", f"unknown fields: {', '.join(unknown) or '(none given)'}")
            fields = tuple(dict.fromkeys(["id", *names]))

        q = _text("q", plain.get("q", "")).strip() or None
        if q is not None and len(q) > MAX_Q_LENGTH:
            raise _bad("q", f"must be at most {MAX_Q_LENGTH} characters")

        return ListQuery(
            limit=limit,
            cursor=plain.get("cursor") or None,
            sort=self._parse_sort(plain["sort"]) if "sort" in plain else DEFAULT_SORT,
            filters=tuple(self._parse_filter(p, f, op, raws) for (f, op), (p, raws) in filters.items()),
            q=q,
            include_deleted=_boolean("include_deleted", plain["include_deleted"]) if "include_deleted" in plain else False,
            fields=fields,
            include_total=_boolean("include_total", plain["include_total"]) if "include_total" in plain else False,
        )
