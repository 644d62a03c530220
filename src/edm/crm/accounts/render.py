"""Records to JSON, straight from database rows: one pass, encoded once by orjson."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.engine import RowMapping

from edm.crm.accounts.fields import FIELDS
from edm.crm.accounts.formats import format_datetime

__all__ = ["record", "record_json", "page_json"]

_DATETIME_FIELDS = frozenset(f.name for f in FIELDS if f.kind == "date-time")
_NAMES = tuple(f.name for f in FIELDS)


def record(row: RowMapping, names: tuple[str, ...] = _NAMES) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value = row[name]
        if name in _DATETIME_FIELDS and isinstance(value, datetime):
            value = format_datetime(value)
        out[name] = value
    return out


def record_json(row: RowMapping) -> bytes:
    return orjson.dumps(record(row))


def page_json(rows: list[RowMapping], has_more: bool, next_cursor: str | None, total: int | None, fields: tuple[str, ...] | None) -> bytes:
    names = fields or _NAMES
    body: dict[str, Any] = {
        "object": "list",
        "data": [record(row, names) for row in rows],
        "has_more": has_more,
        "next_cursor": next_cursor,
    }
    if total is not None:
        body["total"] = total
    return orjson.dumps(body)
