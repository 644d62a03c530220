"""Turning ``list()`` keyword arguments into the API's list query parameters (docs/listing.md).

``filter={"annual_revenue": {"gte": 1000}, "tags": {"any": ["a", "b"]}}``
becomes ``filter[annual_revenue][gte]=1000&filter[tags][any]=a,b``.  Values:
lists are joined by commas, booleans are ``true``/``false``, datetimes are
RFC 3339 in UTC (a naive datetime is taken as UTC).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["encode_value", "filter_params", "list_params"]


def encode_value(value: Any) -> str:
    """One query value as the API reads it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"filter values must be finite numbers, not {value!r}")
        return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return ",".join(encode_value(item) for item in value)
    raise TypeError(f"cannot send {type(value).__name__} as a query value: {value!r}")


def filter_params(filters: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``{"field": value}`` → ``filter[field]=value``; ``{"field": {op: value}}`` → ``filter[field][op]=value``."""
    params: list[tuple[str, str]] = []
    for field, condition in filters.items():
        if isinstance(condition, Mapping):
            if not condition:
                raise ValueError(f"filter {field!r} names no operator")
            for op, value in condition.items():
                params.append((f"filter[{field}][{op}]", _filter_value(field, value)))
        else:
            params.append((f"filter[{field}]", _filter_value(field, condition)))
    return params


def _filter_value(field: str, value: Any) -> str:
    if value is None:
        raise TypeError(f"filter {field!r}: None is not a value; use {{'exists': False}} to find unset fields")
    return encode_value(value)


def list_params(
    *,
    limit: int | None,
    cursor: str | None,
    sort: str | Iterable[str] | None,
    filter: Mapping[str, Any] | None,
    q: str | None,
    fields: str | Iterable[str] | None,
    include_deleted: bool | None,
    include_total: bool | None,
) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    plain = {
        "limit": limit,
        "cursor": cursor,
        "sort": sort,
        "q": q,
        "fields": fields,
        "include_deleted": include_deleted,
        "include_total": include_total,
    }
    for name, value in plain.items():
        if value is not None:
            params.append((name, encode_value(value)))
    if filter:
        params.extend(filter_params(filter))
    return params
