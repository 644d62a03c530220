"""Records to JSON, straight from database rows: one pass, encoded once.

On PostgreSQL records arrive already rendered by the database
(``pg_document``: one JSON text per row, built in C), and Python only joins
them; elsewhere orjson encodes the row values.  Both give the same JSON values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import RowMapping

from edm.crm.engine.formats import format_datetime
from edm.crm.engine.resource import Resource
from edm.crm.engine.table import Tables
from edm.kit.cache import SizedCache

__all__ = ["Renderer", "DOCUMENT", "page_json"]

DOCUMENT = "_document"  # the label of the database-rendered JSON column
# Rendered documents by field list: up to 1 MiB per resource (about 200 of
# every field); each holds its SQL text and a few small objects.
_DOCUMENTS_MAX_BYTES = 1 << 20

# Written into the SQL text, not bound: constants of the statement, not parameters.
_UTC: sa.ColumnElement[str] = sa.literal_column("'UTC'")
# (colons quoted, so that pgbench does not read ":MI" as one of its variables)
_ISO_MILLIS: sa.ColumnElement[str] = sa.literal_column("""'YYYY-MM-DD"T"HH24":"MI":"SS.MS"Z"'""")


class Renderer:
    """One resource's records as JSON."""

    def __init__(self, resource: Resource, tables: Tables) -> None:
        self.names = resource.field_names
        self._datetimes = resource.datetime_fields
        self._c = tables.records.c
        self._documents: SizedCache[tuple[str, ...], sa.Label[str]] = SizedCache(
            _DOCUMENTS_MAX_BYTES, max_entry_bytes=_DOCUMENTS_MAX_BYTES, size_of=_document_bytes
        )

    def record(self, row: RowMapping, names: tuple[str, ...] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        datetimes = self._datetimes
        for name in names or self.names:
            value = row[name]
            if name in datetimes and isinstance(value, datetime):
                value = format_datetime(value)
            out[name] = value
        return out

    def record_json(self, row: RowMapping) -> bytes:
        if DOCUMENT in row:
            return row[DOCUMENT].encode()
        return orjson.dumps(self.record(row))

    def pg_document(self, names: tuple[str, ...] | None = None) -> sa.ColumnElement[str]:
        """The record as JSON text, rendered by PostgreSQL in field order.

        Compiled to SQL text once per field list: as a SQLAlchemy expression of
        some hundred nodes it made building every statement's cache key the
        largest cost of a list request.
        """
        names = names or self.names
        document = self._documents.get(names)
        if document is None:
            document = self._compile_document(names)
            self._documents[names] = document  # a miss only costs a compilation
        return document

    def pg_value(self, name: str, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """Field ``name``'s value in ``column`` as the document shows it (date-times as text)."""
        if name in self._datetimes:
            return sa.func.to_char(sa.func.timezone(_UTC, column), _ISO_MILLIS)
        return column

    def _compile_document(self, names: tuple[str, ...]) -> sa.Label[str]:
        pairs: list[Any] = []
        for name in names:
            pairs += [sa.literal_column(f"'{name}'"), self.pg_value(name, self._c[name])]
        expression = sa.cast(sa.func.json_build_object(*pairs), sa.Text)
        sql = str(expression.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
        return sa.literal_column(sql, sa.Text).label(DOCUMENT)

    def page_json(
        self, rows: list[RowMapping], has_more: bool, next_cursor: str | None, total: int | None, fields: tuple[str, ...] | None
    ) -> bytes:
        if rows and DOCUMENT in rows[0]:
            data = b",".join(row[DOCUMENT].encode() for row in rows)
        else:
            names = fields or self.names
            data = b",".join(orjson.dumps(self.record(row, names)) for row in rows)
        return page_json(data, has_more, next_cursor, total)


def _document_bytes(document: sa.Label[str]) -> int:
    """About what a rendered document keeps alive (tracemalloc: 2–4 bytes per character of SQL, plus objects)."""
    return 1024 + 4 * len(document.element.name)  # type: ignore[attr-defined]


def page_json(data: bytes, has_more: bool, next_cursor: str | None, total: int | None) -> bytes:
    """The list envelope around records already encoded and joined by commas."""
    tail: dict[str, Any] = {"has_more": has_more, "next_cursor": next_cursor}
    if total is not None:
        tail["total"] = total
    return b'{"object":"list","data":[' + data + b"]," + orjson.dumps(tail)[1:]
