"""SQL for accounts, and nothing else.

Every function takes the verified ``Caller`` first and every statement it
emits filters on the caller's tenant (and app, for app callers) through
``_scope``.  Writes are single statements that return the written row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from edm.crm.accounts import list_sql
from edm.crm.accounts.listing import ListQuery
from edm.crm.accounts.render import FIELD_NAMES, pg_document
from edm.crm.accounts.table import COLUMNS, account_counts, accounts
from edm.kit.auth import Caller
from edm.kit.db import Connection, fetch_first

__all__ = [
    "get_statement",
    "list_statement",
    "count_statement",
    "list_page",
    "count",
    "insert",
    "get",
    "update",
    "soft_delete",
    "restore",
    "purge",
    "detach_children",
    "state",
    "exists",
    "ancestors",
    "lock_hierarchy",
]

_c = accounts.c
_n = account_counts.c
_MAX_DEPTH = 10_000
_ONE = sa.literal_column("1", sa.BigInteger())

# The hot statements (get, insert, update, state) name every parameter, so on
# PostgreSQL each shape is compiled once and later calls only pass values
# (see ``edm.kit.db.fetch_first``); their keys below say what makes a shape.


def _scope(caller: Caller, *, tenant_only: bool = False) -> list[sa.ColumnElement[bool]]:
    """The tenant (and app) predicate every statement carries."""
    predicate = [_c.tenant_id == sa.bindparam("tenant_id", caller.tenant_id)]
    if caller.app_id is not None and not tenant_only:
        predicate.append(_c.app_id == sa.bindparam("app_id", caller.app_id))
    return predicate


def _scope_params(caller: Caller, account_id: str) -> dict[str, Any]:
    return {"tenant_id": caller.tenant_id, "app_id": caller.app_id, "account_id": account_id}


def _live(caller: Caller, account_id: str) -> list[sa.ColumnElement[bool]]:
    return [*_scope(caller), _c.id == sa.bindparam("account_id", account_id), sa.not_(_c.is_deleted)]


def _returning(dialect: str) -> tuple[Any, ...]:
    """What a statement that answers with a record selects.

    PostgreSQL renders the record's JSON itself (``pg_document``); the id,
    version and custom fields come along for the service's own checks.
    """
    if dialect == "postgresql":
        return (_c.id, _c.version, _c.custom_fields, pg_document())
    return COLUMNS


def list_statement(caller: Caller, query: ListQuery, cursor_values: list[Any] | None, dialect: str) -> sa.Select[Any]:
    """Up to ``query.limit + 1`` rows after the cursor (the extra row says "has more")."""
    where = [*_scope(caller), *list_sql.predicates(query, dialect, caller.tenant_id)]
    if cursor_values is not None:
        where += list_sql.after_cursor(query.sort, cursor_values)
    if dialect == "postgresql":
        sort_columns = dict.fromkeys([_c.id, *(_c.name_key if k.field == "name" else _c[k.field] for k in query.sort)])
        selected: list[Any] = [*sort_columns, pg_document(query.fields or FIELD_NAMES)]
    else:
        selected = [*COLUMNS, _c.name_key]
    return (
        sa.select(*selected)
        .where(*where)
        .order_by(*list_sql.order_by(query.sort))
        .limit(query.limit + 1)
    )


def count_statement(caller: Caller, query: ListQuery, dialect: str) -> sa.Select[Any]:
    """How many rows match the query, across all pages."""
    if not query.filters and not query.q:
        return _counted(caller, include_deleted=query.include_deleted)
    where = [*_scope(caller), *list_sql.predicates(query, dialect, caller.tenant_id)]
    return sa.select(sa.func.count()).select_from(accounts).where(*where)


def _counted(caller: Caller, *, include_deleted: bool) -> sa.Select[Any]:
    """The caller's rows (live, or all) as the triggers have counted them: a sum over a few counter rows."""
    where = [_n.tenant_id == sa.bindparam("tenant_id", caller.tenant_id)]
    if caller.app_id is not None:
        where.append(_n.app_key == sa.bindparam("app_id", caller.app_id))
    if not include_deleted:
        where.append(sa.not_(_n.is_deleted))
    return sa.select(sa.cast(sa.func.coalesce(sa.func.sum(_n.n), 0), sa.BigInteger)).where(*where)


async def list_page(
    conn: Connection, caller: Caller, query: ListQuery, cursor_values: list[Any] | None
) -> list[RowMapping]:
    result = await conn.execute(list_statement(caller, query, cursor_values, conn.dialect.name))
    return list(result.mappings().all())


async def count(conn: Connection, caller: Caller, query: ListQuery) -> int:
    return (await conn.execute(count_statement(caller, query, conn.dialect.name))).scalar_one()


def insert_statement(values: dict[str, Any], dialect: str) -> sa.Insert:
    """An INSERT of ``values`` (all of the row's columns), one parameter per column, named after it."""
    bound = {name: sa.bindparam(name, value, type_=_c[name].type) for name, value in values.items()}
    return sa.insert(accounts).values(bound).returning(*_returning(dialect))


async def insert(conn: Connection, caller: Caller, values: dict[str, Any]) -> RowMapping:
    row = {**values, "tenant_id": caller.tenant_id, "app_id": caller.app_id}
    return await fetch_first(conn, ("insert", *sorted(row)), row, lambda: insert_statement(row, conn.dialect.name))


def get_statement(caller: Caller, account_id: str, dialect: str = "postgresql") -> sa.Select[Any]:
    return sa.select(*_returning(dialect)).where(*_live(caller, account_id))


async def get(conn: Connection, caller: Caller, account_id: str) -> RowMapping | None:
    key = ("get", caller.app_id is None)
    build = lambda: get_statement(caller, account_id, conn.dialect.name)  # noqa: E731
    return await fetch_first(conn, key, _scope_params(caller, account_id), build)


def _later_of(now: datetime, column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
    """``now``, or one millisecond past ``column`` when the clock has not moved on,
    so that ``updated_at`` changes on every write."""
    now_param = sa.bindparam("now", now, type_=accounts.c.updated_at.type)
    if dialect == "sqlite":
        bumped = sa.func.strftime("%Y-%m-%dT%H:%M:%fZ", column, "+0.001 seconds")
        return sa.func.max(now_param, bumped)
    return sa.func.greatest(now_param, column + sa.literal_column("interval '1 millisecond'", sa.Interval()))


def _merge_custom_fields(patch: dict[str, Any], dialect: str) -> sa.ColumnElement[Any]:
    """RFC 7396 merge of ``patch`` into custom_fields, inside the database.

    Stored values are scalars or arrays (never objects), so one level of merge
    is the whole of RFC 7396 here; a null in ``patch`` removes the key.
    """
    patch_param = sa.bindparam("custom_fields_patch", patch, type_=accounts.c.custom_fields.type)
    if dialect == "sqlite":
        return sa.func.json_patch(_c.custom_fields, patch_param)
    return sa.func.jsonb_strip_nulls(_c.custom_fields.op("||")(patch_param))


def _version_in(allowed: frozenset[int] | None) -> list[sa.ColumnElement[bool]]:
    """``version = $v`` or ``version IN ($v0, $v1, …)``, parameters ``version_0``…"""
    if allowed is None:
        return []
    params = [sa.bindparam(f"version_{n}", v, type_=_c.version.type) for n, v in enumerate(sorted(allowed))]
    return [_c.version == params[0]] if len(params) == 1 else [_c.version.in_(params)]


def _version_params(allowed: frozenset[int] | None) -> dict[str, int]:
    return {f"version_{n}": v for n, v in enumerate(sorted(allowed or ()))}


def update_statement(
    caller: Caller,
    account_id: str,
    changes: dict[str, Any],
    *,
    custom_fields_patch: dict[str, Any] | None,
    allowed_versions: frozenset[int] | None,
    now: datetime,
    dialect: str,
) -> sa.Update:
    """One UPDATE of ``changes``; each changed column's parameter is ``set_<column>``."""
    values: dict[str, Any] = {
        name: sa.bindparam(f"set_{name}", value, type_=_c[name].type) for name, value in changes.items()
    }
    if custom_fields_patch is not None:
        values["custom_fields"] = _merge_custom_fields(custom_fields_patch, dialect)
    values.update(
        version=_c.version + _ONE,
        updated_at=_later_of(now, _c.updated_at, dialect),
        updated_by=sa.bindparam("updated_by", caller.sub),
    )
    where = [*_live(caller, account_id), *_version_in(allowed_versions)]
    return sa.update(accounts).where(*where).values(values).returning(*_returning(dialect))


async def update(
    conn: Connection,
    caller: Caller,
    account_id: str,
    changes: dict[str, Any],
    *,
    custom_fields_patch: dict[str, Any] | None,
    allowed_versions: frozenset[int] | None,
    now: datetime,
) -> RowMapping | None:
    """Apply ``changes`` in one statement; None when no live row (at an allowed version) matched."""
    params = {
        **_scope_params(caller, account_id),
        **{f"set_{name}": value for name, value in changes.items()},
        **_version_params(allowed_versions),
        "custom_fields_patch": custom_fields_patch,
        "now": now,
        "updated_by": caller.sub,
    }
    key = ("update", caller.app_id is None, *sorted(changes), custom_fields_patch is not None, len(allowed_versions or ()))

    def build() -> sa.Update:
        return update_statement(
            caller,
            account_id,
            changes,
            custom_fields_patch=custom_fields_patch,
            allowed_versions=allowed_versions,
            now=now,
            dialect=conn.dialect.name,
        )

    return await fetch_first(conn, key, params, build)


async def soft_delete(
    conn: Connection, caller: Caller, account_id: str, *, allowed_versions: frozenset[int] | None, now: datetime
) -> RowMapping | None:
    where = _live(caller, account_id)
    where += _version_in(allowed_versions)
    statement = (
        sa.update(accounts)
        .where(*where)
        .values(
            is_deleted=True,
            deleted_at=now,
            deleted_by=caller.sub,
            version=_c.version + _ONE,
            updated_at=_later_of(now, _c.updated_at, conn.dialect.name),
            updated_by=caller.sub,
        )
        .returning(*_returning(conn.dialect.name))
    )
    return (await conn.execute(statement)).mappings().first()


async def state(conn: Connection, caller: Caller, account_id: str, *, deleted: bool | None = False) -> int | None:
    """The version of a record the caller can see (live by default; ``deleted=None``: either), or None."""

    def build() -> sa.Select[Any]:
        where = [*_scope(caller), _c.id == sa.bindparam("account_id", account_id)]
        if deleted is not None:
            where.append(_c.is_deleted if deleted else sa.not_(_c.is_deleted))
        return sa.select(_c.version).where(*where)

    row = await fetch_first(conn, ("state", caller.app_id is None, deleted), _scope_params(caller, account_id), build)
    return None if row is None else row["version"]


async def restore(
    conn: Connection, caller: Caller, account_id: str, *, allowed_versions: frozenset[int] | None, now: datetime
) -> RowMapping | None:
    where = [*_scope(caller), _c.id == account_id, _c.is_deleted, *_version_in(allowed_versions)]
    statement = (
        sa.update(accounts)
        .where(*where)
        .values(
            is_deleted=False,
            deleted_at=None,
            deleted_by=None,
            version=_c.version + _ONE,
            updated_at=_later_of(now, _c.updated_at, conn.dialect.name),
            updated_by=caller.sub,
        )
        .returning(*_returning(conn.dialect.name))
    )
    return (await conn.execute(statement)).mappings().first()


async def purge(conn: Connection, caller: Caller, account_id: str, *, allowed_versions: frozenset[int] | None) -> bool:
    """Delete the row for good (live or soft-deleted)."""
    where = [*_scope(caller), _c.id == account_id, *_version_in(allowed_versions)]
    return (await conn.execute(sa.delete(accounts).where(*where).returning(_c.id))).first() is not None


async def detach_children(conn: Connection, caller: Caller, parent_id: str, *, now: datetime) -> None:
    """Children of a purged account lose the pointer (a write to each, in any app)."""
    await conn.execute(
        sa.update(accounts)
        .where(*_scope(caller, tenant_only=True), _c.parent_account_id == parent_id)
        .values(
            parent_account_id=None,
            version=_c.version + _ONE,
            updated_at=_later_of(now, _c.updated_at, conn.dialect.name),
            updated_by=caller.sub,
        )
    )


async def exists(conn: Connection, caller: Caller, account_id: str) -> bool:
    return await state(conn, caller, account_id) is not None


async def ancestors(conn: Connection, caller: Caller, account_id: str) -> set[str]:
    """``account_id`` and every account above it in the caller's tenant.

    The walk crosses app boundaries on purpose: a cycle through another app's
    record is still a cycle.  UNION (not UNION ALL) stops on repeats.
    """
    tenant = caller.tenant_id
    seed = sa.select(_c.id, _c.parent_account_id, sa.literal(0).label("depth")).where(
        *_scope(caller, tenant_only=True), _c.id == account_id
    )
    chain = seed.cte("chain", recursive=True)
    parent = accounts.alias("parent")
    chain = chain.union(
        sa.select(parent.c.id, parent.c.parent_account_id, chain.c.depth + 1).where(
            parent.c.tenant_id == tenant,
            parent.c.id == chain.c.parent_account_id,
            chain.c.depth < _MAX_DEPTH,
        )
    )
    result = await conn.execute(sa.select(chain.c.id))
    return set(result.scalars())


async def lock_hierarchy(conn: Connection, caller: Caller) -> None:
    """Serialize re-parenting within a tenant, so two moves cannot form a cycle together.

    SQLite needs nothing: its write transactions already run one at a time.
    """
    if conn.dialect.name == "postgresql":
        key = sa.func.hashtextextended(sa.literal("edm.accounts.hierarchy:" + caller.tenant_id), 0)
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
