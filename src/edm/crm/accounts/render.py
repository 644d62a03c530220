"""Records to JSON, straight from database rows: one pass, encoded once.

On PostgreSQL records arrive already rendered by the database
(``pg_document``: one JSON text per row, built in C), and Python only joins
them; elsewhere orjson encodes the row values.  Both give the same JSON values.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import RowMapping

from edm.crm.accounts.fields import FIELDS
from edm.crm.accounts.formats import format_datetime
from edm.crm.accounts.table import accounts

__all__ = ["FIELD_NAMES", "record", "record_json", "page_json", "pg_document", "DOCUMENT"]

DOCUMENT = "_document"  # the label of the database-rendered JSON column
_DATETIME_FIELDS = frozenset(f.name for f in FIELDS if f.kind == "date-time")
_NAMES = FIELD_NAMES = tuple(f.name for f in FIELDS)


def record(row: RowMapping, names: tuple[str, ...] = _NAMES) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value = row[name]
        if name in _DATETIME_FIELDS and isinstance(value, datetime):
            value = format_datetime(value)
        out[name] = value
    return out


def record_json(row: RowMapping) -> bytes:
    if DOCUMENT in row:
        return row[DOCUMENT].encode()
    return orjson.dumps(record(row))


# Written into the SQL text, not bound: constants of the statement, not parameters.
_UTC = sa.literal_column("'UTC'")
# (colons quoted, so that pgbench does not read ":MI" as one of its variables)
_ISO_MILLIS = sa.literal_column("""'YYYY-MM-DD"T"HH24":"MI":"SS.MS"Z"'""")


@functools.lru_cache(maxsize=256)
def pg_document(names: tuple[str, ...] = _NAMES) -> sa.ColumnElement[str]:
    """The record as JSON text, rendered by PostgreSQL in field order.

    Compiled to SQL text once per field list: as a SQLAlchemy expression of
    some hundred nodes it made building every statement's cache key the
    largest cost of a list request.
    """
    pairs: list[Any] = []
    for name in names:
        column = accounts.c[name]
        value = (
            sa.func.to_char(sa.func.timezone(_UTC, column), _ISO_MILLIS)
            if name in _DATETIME_FIELDS
            else column
        )
        pairs += [sa.literal_column(f"'{name}'"), value]
    expression = sa.cast(sa.func.json_build_object(*pairs), sa.Text)
    sql = str(expression.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    return sa.literal_column(sql, sa.Text).label(DOCUMENT)


def page_json(rows: list[RowMapping], has_more: bool, next_cursor: str | None, total: int | None, fields: tuple[str, ...] | None) -> bytes:
    tail: dict[str, Any] = {"has_more": has_more, "next_cursor": next_cursor}
    if total is not None:
        tail["total"] = total
    if rows and DOCUMENT in rows[0]:
        data = b",".join(row[DOCUMENT].encode() for row in rows)
    else:
        names = fields or _NAMES
        data = b",".join(orjson.dumps(record(row, names)) for row in rows)
    return b'{"object":"list","data":[' + data + b"]," + orjson.dumps(tail)[1:]
