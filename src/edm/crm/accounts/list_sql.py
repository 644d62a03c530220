"""A ``ListQuery`` as SQL predicates and orderings, for SQLite and PostgreSQL.

Semantics shared by both databases (tests check them against Python):

* ``ne`` and ``nin`` also match records where the field is null or missing.
* ``gt``/``gte``/``lt``/``lte`` on text compare code points (C collation).
* ``contains``/``starts_with`` are case-insensitive (on SQLite for ASCII letters).
* ``custom_fields.KEY`` values are matched as numbers when the filter value
  reads as a number, as booleans for ``true``/``false``, and always as text;
  an array value matches ``eq``/``in`` when any element does.
* Sorting puts nulls last in both directions; ties break on ``id`` in the
  direction of the first sort key.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from edm.crm.accounts.listing import Filter, ListQuery, SortKey
from edm.crm.accounts.table import accounts

__all__ = ["predicates", "order_by", "after_cursor", "sort_values", "PG_SEARCH_SQL"]

_c = accounts.c

# The search index of migration 2026_11_27_1500 is built on this expression.
PG_SEARCH_SQL = (
    "(coalesce(name, '') || E'\\x1f' || coalesce(legal_name, '') || E'\\x1f' || coalesce(domain, '')"
    " || E'\\x1f' || coalesce(website, '') || E'\\x1f' || coalesce(description, ''))"
)


def _like_pattern(text: str, *, prefix_only: bool) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%" if prefix_only else f"%{escaped}%"


def _ilike(expr: Any, text: str, dialect: str, *, prefix_only: bool = False) -> sa.ColumnElement[bool]:
    pattern = _like_pattern(text, prefix_only=prefix_only)
    if dialect == "postgresql":
        return expr.ilike(pattern, escape="\\")
    return expr.like(pattern, escape="\\")  # SQLite's LIKE ignores ASCII case


def _column(name: str) -> sa.ColumnElement[Any]:
    return _c.name_key if name == "name" else _c[name]


def _text_order(expr: Any, dialect: str) -> Any:
    return expr.collate("C") if dialect == "postgresql" else expr


# ----------------------------------------------------------------------------- plain fields


def _plain(f: Filter, dialect: str, tenant_id: str) -> sa.ColumnElement[bool]:
    col = _c[f.field]
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
    if f.op == "under":
        return _c.id.in_(_descendants(tenant_id, f.value))
    ordered = _text_order(col, dialect) if is_text else col
    return {"gt": ordered > f.value, "gte": ordered >= f.value, "lt": ordered < f.value, "lte": ordered <= f.value}[f.op]


def _descendants(tenant_id: str, root: str) -> sa.Select[Any]:
    """Every account below ``root`` in the tenant, at any depth (UNION stops on repeats)."""
    child = accounts.alias("child")
    tree = sa.select(child.c.id).where(child.c.tenant_id == tenant_id, child.c.parent_account_id == root).cte("tree", recursive=True)
    below = accounts.alias("below")
    tree = tree.union(sa.select(below.c.id).where(below.c.tenant_id == tenant_id, below.c.parent_account_id == tree.c.id))
    return sa.select(tree.c.id)


# ----------------------------------------------------------------------------- tags


def _tags(f: Filter, dialect: str) -> sa.ColumnElement[bool]:
    values = list(f.value)
    if dialect == "postgresql":
        tags = sa.type_coerce(_c.tags, JSONB)
        if f.op == "any":
            return tags.op("?|", is_comparison=True)(sa.cast(sa.literal(values, ARRAY(sa.Text)), ARRAY(sa.Text)))
        return tags.op("@>", is_comparison=True)(sa.cast(sa.literal(values, JSONB), JSONB))  # has, all
    each = sa.func.json_each(_c.tags).table_valued("value")
    matching = sa.select(sa.func.count(sa.distinct(each.c.value))).where(each.c.value.in_(values)).scalar_subquery()
    if f.op == "any":
        return matching > 0
    return matching == len(values)


# ----------------------------------------------------------------------------- custom fields


def _number(raw: str) -> float | int | None:
    """The number a filter value reads as; integers past 64 bits become doubles."""
    try:
        number = int(raw) if raw.lstrip("-").isdigit() else float(raw)
    except ValueError:
        return None
    if isinstance(number, int) and not -(2**63) <= number < 2**63:
        return float(number)
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


def _custom_pg(f: Filter) -> sa.ColumnElement[bool]:
    doc = sa.type_coerce(_c.custom_fields, JSONB)
    key = f.key
    assert key is not None

    def contains(value: Any) -> sa.ColumnElement[bool]:
        return doc.op("@>", is_comparison=True)(sa.cast(sa.literal({key: value}, JSONB), JSONB))

    def equal_any(raws: tuple[str, ...] | list[str]) -> sa.ColumnElement[bool]:
        options = [contains(v) for raw in raws for c in _candidates(raw) for v in (c, [c])]
        return sa.or_(*options)

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


def _custom_sqlite(f: Filter) -> sa.ColumnElement[bool]:
    path = f'$."{f.key}"'
    value_type = sa.func.json_type(_c.custom_fields, path)
    extracted = sa.func.json_extract(_c.custom_fields, path)
    if f.op == "exists":
        return value_type.is_not(None) if f.value else value_type.is_(None)
    if f.op in ("eq", "in", "ne", "nin"):
        raws = [f.value] if f.op in ("eq", "ne") else list(f.value)
        each = sa.func.json_each(_c.custom_fields, path).table_valued("type", "value")
        options = []
        for raw in raws:
            for candidate in _candidates(raw):
                if isinstance(candidate, bool):
                    options.append(each.c.type == ("true" if candidate else "false"))
                elif isinstance(candidate, str):
                    options.append(sa.and_(each.c.type == "text", each.c.value == candidate))
                else:
                    options.append(sa.and_(each.c.type.in_(("integer", "real")), each.c.value == candidate))
        match = sa.exists(sa.select(sa.literal(1)).select_from(each).where(sa.or_(*options)))
        return match if f.op in ("eq", "in") else sa.not_(match)
    if f.op in ("contains", "starts_with"):
        return sa.and_(value_type == "text", _ilike(extracted, f.value, "sqlite", prefix_only=f.op == "starts_with"))
    return _custom_compare(f, value_type.in_(("integer", "real")), extracted, value_type == "text", extracted)


def _custom_compare(f: Filter, is_number: Any, as_number: Any, is_text: Any, as_text: Any) -> sa.ColumnElement[bool]:
    """gt/gte/lt/lte: numerically when the value reads as a number, else as text."""
    number = _number(f.value)
    ops = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}
    if number is not None and math.isfinite(number):
        return sa.and_(is_number, getattr(as_number, ops[f.op])(number))
    return sa.and_(is_text, getattr(as_text, ops[f.op])(f.value))


# ----------------------------------------------------------------------------- search


def _search(q: str, dialect: str) -> sa.ColumnElement[bool]:
    if dialect == "postgresql":
        return _ilike(sa.literal_column(PG_SEARCH_SQL), q, dialect)
    search = sa.table("accounts_search", sa.column("rowid"), sa.column("search"))
    matching = sa.select(search.c.rowid).where(search.c.search.like(_like_pattern(q, prefix_only=False), escape="\\"))
    return sa.literal_column("accounts.rowid").in_(matching)


# ----------------------------------------------------------------------------- the query


def predicates(query: ListQuery, dialect: str, tenant_id: str) -> list[sa.ColumnElement[bool]]:
    """Every predicate of the query except the caller scope and the cursor."""
    where: list[sa.ColumnElement[bool]] = []
    if not query.include_deleted:
        where.append(sa.not_(_c.is_deleted))
    for f in query.filters:
        if f.field == "tags":
            where.append(_tags(f, dialect))
        elif f.field == "custom_fields":
            where.append(_custom_pg(f) if dialect == "postgresql" else _custom_sqlite(f))
        else:
            where.append(_plain(f, dialect, tenant_id))
    if query.q:
        where.append(_search(query.q, dialect))
    return where


def _keys(sort: tuple[SortKey, ...]) -> list[tuple[Any, bool, bool]]:
    """(expression, descending, nullable) for each sort key, then ``id``."""
    keys = [(_column(k.field), k.descending, k.nullable) for k in sort]
    return [*keys, (_c.id, sort[0].descending, False)]


def order_by(sort: tuple[SortKey, ...]) -> list[Any]:
    out = []
    for expr, descending, nullable in _keys(sort):
        ordered = expr.desc() if descending else expr.asc()
        out.append(ordered.nulls_last() if nullable else ordered)
    return out


def sort_values(sort: tuple[SortKey, ...], row: Any) -> list[Any]:
    """The cursor values of a row: each sort key (name as its key), then id."""
    values = [row["name_key"] if k.field == "name" else row[k.field] for k in sort]
    return [v.isoformat() if isinstance(v, datetime) else v for v in [*values, row["id"]]]


def after_cursor(sort: tuple[SortKey, ...], values: list[Any]) -> list[sa.ColumnElement[bool]]:
    """Rows strictly after the cursor in the sort order (nulls last, then id).

    When every key is non-null and shares one direction this is a row-value
    comparison, which an index on (tenant_id, key, id) answers with a seek.
    Otherwise it is the equivalent OR-chain plus a bound on the leading key.
    """
    keys = _keys(sort)
    values = [_typed_cursor_value(expr, v) for (expr, _, _), v in zip(keys, values, strict=True)]
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


def _typed_cursor_value(expr: Any, value: Any) -> Any:
    if value is not None and isinstance(value, str) and expr.key in ("created_at", "updated_at", "last_activity_at", "first_contacted_at"):
        return datetime.fromisoformat(value)
    return value
