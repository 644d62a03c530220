"""A ``ListQuery`` as SQL predicates and orderings, for SQLite and PostgreSQL.

Semantics shared by both databases (tests check them against Python):

* ``ne`` and ``nin`` also match records where the field is null or missing.
* ``gt``/``gte``/``lt``/``lte`` on text compare code points (C collation).
* ``contains``/``starts_with`` are case-insensitive (on SQLite for ASCII letters).
* ``custom_fields.KEY`` values are matched as numbers when the filter value
  reads as a number, as booleans for ``true``/``false``, and always as text;
  an array value matches ``eq``/``in`` when any element does.  The values
  of an ``in``/``nin`` list travel as one parameter (a jsonpath on
  PostgreSQL, a JSON array on SQLite), so the statement's size and shape do
  not grow with the list.
* Sorting puts nulls last in both directions; ties break on ``id`` in the
  direction of the first sort key.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, JSONPATH

from edm.crm.engine.listing import FILTER_OPERATORS, Filter, ListQuery, SortKey
from edm.crm.engine.resource import Resource
from edm.crm.engine.table import Tables

__all__ = ["ListSQL", "pg_search_sql"]


def pg_search_sql(searched: tuple[str, ...]) -> str:
    """What ``q`` matches on PostgreSQL: the searched fields joined by U+001F, so
    a term never matches across two of them.  A resource's trigram index is
    built on exactly this expression (migrations spell it out).

    A missing field reads as '' through CASE, not COALESCE: under row-level
    security PostgreSQL counts every COALESCE as leaky and would not let the
    index answer ``q`` (migration 1610, docs/database.md).
    """
    return "(" + " || E'\\x1f' || ".join(f"CASE WHEN {name} IS NULL THEN '' ELSE {name} END" for name in searched) + ")"


def _like_pattern(text: str, *, prefix_only: bool) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%" if prefix_only else f"%{escaped}%"


def _ilike(expr: Any, text: str, dialect: str, *, prefix_only: bool = False) -> sa.ColumnElement[bool]:
    pattern = _like_pattern(text, prefix_only=prefix_only)
    if dialect == "postgresql":
        return expr.ilike(pattern, escape="\\")
    return expr.like(pattern, escape="\\")  # SQLite's LIKE ignores ASCII case


def _text_order(expr: Any, dialect: str) -> Any:
    return expr.collate("C") if dialect == "postgresql" else expr


def _number(raw: str) -> float | int | None:
    """The number a filter value reads as; integers past 64 bits become doubles."""
    try:
        number = int(raw) if raw.lstrip("-").isdigit() else float(raw)
        if isinstance(number, int) and not -(2**63) <= number < 2**63:
            return float(number)
    except (ValueError, OverflowError):  # not a number, or past a double's range: matched as text only
        return None
    return number


def _candidates(raw: str) -> list[Any]:
    """The JSON values a filter value may mean: always the text, maybe a number or boolean."""
    values: list[Any] = [raw]
    number = _number(raw)
    if number is not None and not (isinstance(number, float) and not math.isfinite(number)):
        values.append(number)
    if raw in ("true", "false"):
        values.append(raw == "true")
    return values


def _equal_any_path(key: str, raws: tuple[str, ...] | list[str]) -> str:
    """A jsonpath true when the value under ``key`` (or, lax, an element of an array there) equals a candidate."""
    literals = [
        ("true" if c else "false") if isinstance(c, bool) else orjson.dumps(c).decode()
        for raw in raws
        for c in _candidates(raw)
    ]
    return f'$."{key}" ? (' + " || ".join(f"@ == {literal}" for literal in literals) + ")"


def _custom_compare(f: Filter, is_number: Any, as_number: Any, is_text: Any, as_text: Any) -> sa.ColumnElement[bool]:
    """gt/gte/lt/lte: numerically when the value reads as a number, else as text."""
    number = _number(f.value)
    ops = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}
    if number is not None and math.isfinite(number):
        return sa.and_(is_number, getattr(as_number, ops[f.op])(number))
    return sa.and_(is_text, getattr(as_text, ops[f.op])(f.value))


class ListSQL:
    """The SQL of a ``ListQuery`` on one resource's table."""

    def __init__(self, resource: Resource, tables: Tables) -> None:
        self.resource = resource
        self.table = tables.records
        self._c = tables.records.c
        self._hooks = resource.hooks
        self._search_sql = pg_search_sql(resource.searched) if resource.searched else None
        self._sqlite_search = resource.sqlite_search_table

    def _search(self, q: str, dialect: str) -> sa.ColumnElement[bool]:
        assert self._search_sql is not None, "the grammar takes q only for a resource with searched fields"
        if dialect == "postgresql":
            return _ilike(sa.literal_column(self._search_sql), q, dialect)
        name = self.table.name
        if not self._sqlite_search:
            searched = [sa.func.coalesce(self._c[n], "") for n in self.resource.searched]
            return sa.or_(*(_ilike(column, q, dialect) for column in searched))
        search = sa.table(f"{name}_search", sa.column("rowid"), sa.column("search"))
        matching = sa.select(search.c.rowid).where(search.c.search.like(_like_pattern(q, prefix_only=False), escape="\\"))
        return sa.literal_column(f"{name}.rowid").in_(matching)

    def _plain(self, f: Filter, dialect: str, tenant_id: str) -> sa.ColumnElement[bool]:
        if f.op not in FILTER_OPERATORS[f.kind]:  # an operator of the resource's hooks
            return self._hooks.predicate(self, f, tenant_id)
        col = self._c[f.field]
        is_text = f.kind in ("string", "id", "enum")
        if f.op == "exists":
            return col.is_not(None) if f.value else col.is_(None)
        if f.op == "eq":
            return col == f.value
        if f.op == "ne":
            return sa.or_(col != f.value, col.is_(None))
        if f.op == "in":
            return col.in_(f.value)
        if f.op == "nin":
            return sa.or_(col.not_in(f.value), col.is_(None))
        if f.op == "contains":
            return _ilike(col, f.value, dialect)
        if f.op == "starts_with":
            return _ilike(col, f.value, dialect, prefix_only=True)
        ordered = _text_order(col, dialect) if is_text else col
        return {"gt": ordered > f.value, "gte": ordered >= f.value, "lt": ordered < f.value, "lte": ordered <= f.value}[f.op]

    def _tags(self, f: Filter, dialect: str) -> sa.ColumnElement[bool]:
        values = list(f.value)
        if dialect == "postgresql":
            tags = sa.type_coerce(self._c.tags, JSONB)
            if f.op == "any":
                return tags.op("?|", is_comparison=True)(sa.cast(sa.literal(values, ARRAY(sa.Text)), ARRAY(sa.Text)))
            return tags.op("@>", is_comparison=True)(sa.cast(sa.literal(values, JSONB), JSONB))  # has, all
        each = sa.func.json_each(self._c.tags).table_valued("value")
        matching = sa.select(sa.func.count(sa.distinct(each.c.value))).where(each.c.value.in_(values)).scalar_subquery()
        if f.op == "any":
            return matching > 0
        return matching == len(values)

    def _custom_pg(self, f: Filter) -> sa.ColumnElement[bool]:
        doc = sa.type_coerce(self._c.custom_fields, JSONB)
        key = f.key
        assert key is not None

        def contains(value: Any) -> sa.ColumnElement[bool]:
            return doc.op("@>", is_comparison=True)(sa.cast(sa.literal({key: value}, JSONB), JSONB))

        def equal_any(raws: tuple[str, ...] | list[str]) -> sa.ColumnElement[bool]:
            if len(raws) == 1:  # containment, which row security lets the GIN index answer
                return sa.or_(*(contains(v) for c in _candidates(raws[0]) for v in (c, [c])))
            # One jsonpath for the whole list, which the same index answers in one scan: an OR of
            # containments per value (600 parameters for 100 values) took 3.5 s on a 100k-row
            # tenant, and "@> ANY(array)" multiplies the array keys of several lists.
            return doc.op("@?", is_comparison=True)(sa.cast(sa.literal(_equal_any_path(key, raws), sa.Text), JSONPATH))

        value_type = sa.func.jsonb_typeof(doc[key])
        as_text = doc[key].astext
        if f.op == "exists":
            present = doc.op("?", is_comparison=True)(sa.literal(key, sa.Text))
            return present if f.value else sa.not_(present)
        if f.op in ("eq", "in"):
            return equal_any([f.value] if f.op == "eq" else f.value)
        if f.op in ("ne", "nin"):
            return sa.not_(equal_any([f.value] if f.op == "ne" else f.value))
        if f.op in ("contains", "starts_with"):
            return sa.and_(value_type == "string", _ilike(as_text, f.value, "postgresql", prefix_only=f.op == "starts_with"))
        return _custom_compare(f, value_type == "number", sa.cast(as_text, sa.Numeric), value_type == "string", as_text.collate("C"))

    def _custom_sqlite(self, f: Filter) -> sa.ColumnElement[bool]:
        path = f'$."{f.key}"'
        value_type = sa.func.json_type(self._c.custom_fields, path)
        extracted = sa.func.json_extract(self._c.custom_fields, path)
        if f.op == "exists":
            return value_type.is_not(None) if f.value else value_type.is_(None)
        if f.op in ("eq", "in", "ne", "nin"):
            raws = [f.value] if f.op in ("eq", "ne") else list(f.value)
            candidates = [c for raw in raws for c in _candidates(raw)]
            stored = sa.func.json_each(self._c.custom_fields, path).table_valued("type", "value")
            wanted = sa.func.json_each(sa.literal(orjson.dumps(candidates).decode(), sa.Text)).table_valued("type", "value")
            numbers = ("integer", "real")
            same_kind = sa.or_(stored.c.type == wanted.c.type, sa.and_(stored.c.type.in_(numbers), wanted.c.type.in_(numbers)))
            pairs = sa.select(sa.literal(1)).select_from(stored).join(wanted, sa.true())
            match = sa.exists(pairs.where(same_kind, stored.c.value == wanted.c.value))
            return match if f.op in ("eq", "in") else sa.not_(match)
        if f.op in ("contains", "starts_with"):
            return sa.and_(value_type == "text", _ilike(extracted, f.value, "sqlite", prefix_only=f.op == "starts_with"))
        return _custom_compare(f, value_type.in_(("integer", "real")), extracted, value_type == "text", extracted)

    def predicates(self, query: ListQuery, dialect: str, tenant_id: str) -> list[sa.ColumnElement[bool]]:
        """Every predicate of the query except the caller scope and the cursor."""
        where: list[sa.ColumnElement[bool]] = []
        if not query.include_deleted:
            where.append(sa.not_(self._c.is_deleted))
        for f in query.filters:
            if f.field == "tags":
                where.append(self._tags(f, dialect))
            elif f.field == "custom_fields":
                where.append(self._custom_pg(f) if dialect == "postgresql" else self._custom_sqlite(f))
            else:
                where.append(self._plain(f, dialect, tenant_id))
        if query.q:
            where.append(self._search(query.q, dialect))
        return where

    def _keys(self, sort: tuple[SortKey, ...]) -> list[tuple[Any, bool, bool]]:
        """(expression, descending, nullable) for each sort key, then ``id``."""
        keys = [(self._c[k.column], k.descending, k.nullable) for k in sort]
        return [*keys, (self._c.id, sort[0].descending, False)]

    def order_by(self, sort: tuple[SortKey, ...]) -> list[Any]:
        out = []
        for expr, descending, nullable in self._keys(sort):
            ordered = expr.desc() if descending else expr.asc()
            out.append(ordered.nulls_last() if nullable else ordered)
        return out

    def sort_values(self, sort: tuple[SortKey, ...], row: Any) -> list[Any]:
        """The cursor values of a row: each sort column (a sort key where the field has one), then id."""
        values = [row[k.column] for k in sort]
        return [v.isoformat() if isinstance(v, datetime) else v for v in [*values, row["id"]]]

    def after_cursor(self, sort: tuple[SortKey, ...], values: list[Any]) -> list[sa.ColumnElement[bool]]:
        """Rows strictly after the cursor in the sort order (nulls last, then id).

        When every key is non-null and shares one direction this is a row-value
        comparison, which an index on (tenant_id, key, id) answers with a seek.
        Otherwise it is the equivalent OR-chain plus a bound on the leading key.
        """
        keys = self._keys(sort)
        values = [self._typed_cursor_value(expr, v) for (expr, _, _), v in zip(keys, values, strict=True)]
        if len({d for _, d, _ in keys}) == 1 and not any(nullable for _, _, nullable in keys):
            left = sa.tuple_(*(e for e, _, _ in keys))
            right = sa.tuple_(*(sa.literal(v, e.type) for (e, _, _), v in zip(keys, values, strict=True)))
            return [left < right if keys[0][1] else left > right]

        chain: list[sa.ColumnElement[bool]] = []
        equal_so_far: list[sa.ColumnElement[bool]] = []
        for (expr, descending, nullable), value in zip(keys, values, strict=True):
            if value is None:  # the null bucket: nothing sorts after it on this key
                after: sa.ColumnElement[bool] = sa.false()
                equal: sa.ColumnElement[bool] = expr.is_(None)
            else:
                after = expr < value if descending else expr > value
                if nullable:
                    after = sa.or_(after, expr.is_(None))
                equal = expr == value
            chain.append(sa.and_(*equal_so_far, after))
            equal_so_far.append(equal)
        where = [sa.or_(*chain)]
        lead_expr, lead_desc, lead_nullable = keys[0]
        if values[0] is not None and not lead_nullable:
            where.append(lead_expr <= values[0] if lead_desc else lead_expr >= values[0])
        return where

    def _typed_cursor_value(self, expr: Any, value: Any) -> Any:
        if value is not None and isinstance(value, str) and expr.key in self.resource.datetime_fields:
            return datetime.fromisoformat(value)
        return value
