"""SQL for a resource's records, and nothing else.

Every method takes the verified ``Caller`` first and every statement it
emits filters on the caller's tenant (and app, for app callers) through
``_scope``.  Writes are single statements that return the written row.  The
hot statements (get, insert, update, state) name every parameter, so on
PostgreSQL each shape is compiled once and later calls only pass values
(``edm.kit.db.fetch_first``); their keys start with the resource's name, so
two resources never share a compiled statement.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from edm.crm.engine.list_sql import ListSQL
from edm.crm.engine.listing import ListQuery
from edm.crm.engine.render import Renderer
from edm.crm.engine.resource import Resource
from edm.crm.engine.table import Tables
from edm.kit.auth import Caller
from edm.kit.db import Connection, fetch_first

__all__ = ["Repository"]

_ONE = sa.literal_column("1", sa.BigInteger())


class Repository:
    """One resource's statements."""

    def __init__(self, resource: Resource, tables: Tables, sql: ListSQL, render: Renderer) -> None:
        self.resource = resource
        self.name = resource.name
        self.table = tables.records
        self.counts = tables.counts
        self.columns = tables.columns
        self.sql = sql
        self.render = render
        self._c = tables.records.c
        self._n = tables.counts.c if tables.counts is not None else None
        self._sort_columns = tuple(self._c[f.sort_column] for f in resource.fields if f.sort_key)

    def scope(self, caller: Caller, *, tenant_only: bool = False) -> list[sa.ColumnElement[bool]]:
        """The tenant (and app) predicate every statement carries."""
        predicate = [self._c.tenant_id == sa.bindparam("tenant_id", caller.tenant_id)]
        if caller.app_id is not None and not tenant_only:
            predicate.append(self._c.app_id == sa.bindparam("app_id", caller.app_id))
        return predicate

    def _scope_params(self, caller: Caller, record_id: str) -> dict[str, Any]:
        return {"tenant_id": caller.tenant_id, "app_id": caller.app_id, "record_id": record_id}

    def _live(self, caller: Caller, record_id: str) -> list[sa.ColumnElement[bool]]:
        return [*self.scope(caller), self._c.id == sa.bindparam("record_id", record_id), sa.not_(self._c.is_deleted)]

    def _returning(self, dialect: str) -> tuple[Any, ...]:
        """What a statement that answers with a record selects.

        PostgreSQL renders the record's JSON itself (``pg_document``); the id,
        version and custom fields come along for the service's own checks.
        """
        if dialect == "postgresql":
            return (self._c.id, self._c.version, self._c.custom_fields, self.render.pg_document())
        return self.columns

    def list_statement(self, caller: Caller, query: ListQuery, cursor_values: list[Any] | None, dialect: str) -> sa.Select[Any]:
        """Up to ``query.limit + 1`` rows after the cursor (the extra row says "has more")."""
        where = [*self.scope(caller), *self.sql.predicates(query, dialect, caller.tenant_id)]
        if cursor_values is not None:
            where += self.sql.after_cursor(query.sort, cursor_values)
        if dialect == "postgresql":
            sort_columns = dict.fromkeys([self._c.id, *(self._c[k.column] for k in query.sort)])
            selected: list[Any] = [*sort_columns, self.render.pg_document(query.fields)]
        else:
            selected = [*self.columns, *self._sort_columns]
        return (
            sa.select(*selected)
            .where(*where)
            .order_by(*self.sql.order_by(query.sort))
            .limit(query.limit + 1)
        )

    def count_statement(self, caller: Caller, query: ListQuery, dialect: str) -> sa.Select[Any]:
        """How many rows match the query, across all pages."""
        if not query.filters and not query.q and self._n is not None:
            return self._counted(caller, include_deleted=query.include_deleted)
        where = [*self.scope(caller), *self.sql.predicates(query, dialect, caller.tenant_id)]
        return sa.select(sa.func.count()).select_from(self.table).where(*where)

    def _counted(self, caller: Caller, *, include_deleted: bool) -> sa.Select[Any]:
        """The caller's rows (live, or all) as the triggers have counted them: a sum over a few counter rows."""
        assert self._n is not None
        where = [self._n.tenant_id == sa.bindparam("tenant_id", caller.tenant_id)]
        if caller.app_id is not None:
            where.append(self._n.app_key == sa.bindparam("app_id", caller.app_id))
        if not include_deleted:
            where.append(sa.not_(self._n.is_deleted))
        return sa.select(sa.cast(sa.func.coalesce(sa.func.sum(self._n.n), 0), sa.BigInteger)).where(*where)

    async def list_page(
        self,
        conn: Connection, caller: Caller, query: ListQuery, cursor_values: list[Any] | None
    ) -> list[RowMapping]:
        result = await conn.execute(self.list_statement(caller, query, cursor_values, conn.dialect.name))
        return list(result.mappings().all())

    async def count(self, conn: Connection, caller: Caller, query: ListQuery) -> int:
        return (await conn.execute(self.count_statement(caller, query, conn.dialect.name))).scalar_one()

    def insert_statement(self, values: dict[str, Any], dialect: str) -> sa.Insert:
        """An INSERT of ``values`` (all of the row's columns), one parameter per column, named after it."""
        bound = {name: sa.bindparam(name, value, type_=self._c[name].type) for name, value in values.items()}
        return sa.insert(self.table).values(bound).returning(*self._returning(dialect))

    async def insert(self, conn: Connection, caller: Caller, values: dict[str, Any]) -> RowMapping:
        row = {**values, "tenant_id": caller.tenant_id, "app_id": caller.app_id}
        return await fetch_first(conn, (self.name, "insert", *sorted(row)), row, lambda: self.insert_statement(row, conn.dialect.name))

    def get_statement(
        self, caller: Caller, record_id: str, dialect: str = "postgresql", *, include_deleted: bool = False
    ) -> sa.Select[Any]:
        if include_deleted:
            where = [*self.scope(caller), self._c.id == sa.bindparam("record_id", record_id)]
        else:
            where = self._live(caller, record_id)
        return sa.select(*self._returning(dialect)).where(*where)

    async def get(self, conn: Connection, caller: Caller, record_id: str, *, include_deleted: bool = False) -> RowMapping | None:
        """The record, live (or soft-deleted too, with ``include_deleted``), or None."""
        key = (self.name, "get", caller.app_id is None, include_deleted)
        build = lambda: self.get_statement(caller, record_id, conn.dialect.name, include_deleted=include_deleted)  # noqa: E731
        return await fetch_first(conn, key, self._scope_params(caller, record_id), build)

    def later_of(self, now: datetime, column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
        """``now``, or one millisecond past ``column`` when the clock has not moved on,
        so that ``updated_at`` changes on every write."""
        now_param = sa.bindparam("now", now, type_=self._c.updated_at.type)
        if dialect == "sqlite":
            bumped = sa.func.strftime("%Y-%m-%dT%H:%M:%fZ", column, "+0.001 seconds")
            return sa.func.max(now_param, bumped)
        return sa.func.greatest(now_param, column + sa.literal_column("interval '1 millisecond'", sa.Interval()))

    def _merge_custom_fields(self, patch: dict[str, Any], dialect: str) -> sa.ColumnElement[Any]:
        """RFC 7396 merge of ``patch`` into custom_fields, inside the database.

        Stored values are scalars or arrays (never objects), so one level of merge
        is the whole of RFC 7396 here; a null in ``patch`` removes the key.
        """
        patch_param = sa.bindparam("custom_fields_patch", patch, type_=self._c.custom_fields.type)
        if dialect == "sqlite":
            return sa.func.json_patch(self._c.custom_fields, patch_param)
        return sa.func.jsonb_strip_nulls(self._c.custom_fields.op("||")(patch_param))

    def _version_in(self, allowed: frozenset[int] | None) -> list[sa.ColumnElement[bool]]:
        """``version = $v`` or ``version IN ($v0, $v1, …)``, parameters ``version_0``…"""
        if allowed is None:
            return []
        params = [sa.bindparam(f"version_{n}", v, type_=self._c.version.type) for n, v in enumerate(sorted(allowed))]
        return [self._c.version == params[0]] if len(params) == 1 else [self._c.version.in_(params)]

    def _version_params(self, allowed: frozenset[int] | None) -> dict[str, int]:
        return {f"version_{n}": v for n, v in enumerate(sorted(allowed or ()))}

    def update_statement(
        self,
        caller: Caller,
        record_id: str,
        changes: dict[str, Any],
        *,
        custom_fields_patch: dict[str, Any] | None,
        allowed_versions: frozenset[int] | None,
        now: datetime,
        dialect: str,
    ) -> sa.Update:
        """One UPDATE of ``changes``; each changed column's parameter is ``set_<column>``."""
        values: dict[str, Any] = {
            name: sa.bindparam(f"set_{name}", value, type_=self._c[name].type) for name, value in changes.items()
        }
        if custom_fields_patch is not None:
            values["custom_fields"] = self._merge_custom_fields(custom_fields_patch, dialect)
        values.update(
            version=self._c.version + _ONE,
            updated_at=self.later_of(now, self._c.updated_at, dialect),
            updated_by=sa.bindparam("updated_by", caller.sub),
        )
        where = [*self._live(caller, record_id), *self._version_in(allowed_versions)]
        return sa.update(self.table).where(*where).values(values).returning(*self._returning(dialect))

    async def update(
        self,
        conn: Connection,
        caller: Caller,
        record_id: str,
        changes: dict[str, Any],
        *,
        custom_fields_patch: dict[str, Any] | None,
        allowed_versions: frozenset[int] | None,
        now: datetime,
    ) -> RowMapping | None:
        """Apply ``changes`` in one statement; None when no live row (at an allowed version) matched."""
        params = {
            **self._scope_params(caller, record_id),
            **{f"set_{name}": value for name, value in changes.items()},
            **self._version_params(allowed_versions),
            "custom_fields_patch": custom_fields_patch,
            "now": now,
            "updated_by": caller.sub,
        }
        key = (self.name, "update", caller.app_id is None, *sorted(changes), custom_fields_patch is not None, len(allowed_versions or ()))

        def build() -> sa.Update:
            return self.update_statement(
                caller,
                record_id,
                changes,
                custom_fields_patch=custom_fields_patch,
                allowed_versions=allowed_versions,
                now=now,
                dialect=conn.dialect.name,
            )

        return await fetch_first(conn, key, params, build)

    async def soft_delete(
        self,
        conn: Connection, caller: Caller, record_id: str, *, allowed_versions: frozenset[int] | None, now: datetime
    ) -> RowMapping | None:
        where = self._live(caller, record_id)
        where += self._version_in(allowed_versions)
        statement = (
            sa.update(self.table)
            .where(*where)
            .values(
                is_deleted=True,
                deleted_at=now,
                deleted_by=caller.sub,
                version=self._c.version + _ONE,
                updated_at=self.later_of(now, self._c.updated_at, conn.dialect.name),
                updated_by=caller.sub,
            )
            .returning(*self._returning(conn.dialect.name))
        )
        return (await conn.execute(statement)).mappings().first()

    async def state(self, conn: Connection, caller: Caller, record_id: str, *, deleted: bool | None = False) -> int | None:
        """The version of a record the caller can see (live by default; ``deleted=None``: either), or None."""

        def build() -> sa.Select[Any]:
            where = [*self.scope(caller), self._c.id == sa.bindparam("record_id", record_id)]
            if deleted is not None:
                where.append(self._c.is_deleted if deleted else sa.not_(self._c.is_deleted))
            return sa.select(self._c.version).where(*where)

        row = await fetch_first(conn, (self.name, "state", caller.app_id is None, deleted), self._scope_params(caller, record_id), build)
        return None if row is None else row["version"]

    async def restore(
        self,
        conn: Connection, caller: Caller, record_id: str, *, allowed_versions: frozenset[int] | None, now: datetime
    ) -> RowMapping | None:
        where = [*self.scope(caller), self._c.id == record_id, self._c.is_deleted, *self._version_in(allowed_versions)]
        statement = (
            sa.update(self.table)
            .where(*where)
            .values(
                is_deleted=False,
                deleted_at=None,
                deleted_by=None,
                version=self._c.version + _ONE,
                updated_at=self.later_of(now, self._c.updated_at, conn.dialect.name),
                updated_by=caller.sub,
            )
            .returning(*self._returning(conn.dialect.name))
        )
        return (await conn.execute(statement)).mappings().first()

    async def purge(self, conn: Connection, caller: Caller, record_id: str, *, allowed_versions: frozenset[int] | None) -> bool:
        """Delete the row for good (live or soft-deleted)."""
        where = [*self.scope(caller), self._c.id == record_id, *self._version_in(allowed_versions)]
        return (await conn.execute(sa.delete(self.table).where(*where).returning(self._c.id))).first() is not None

    async def exists(self, conn: Connection, caller: Caller, record_id: str) -> bool:
        return await self.state(conn, caller, record_id) is not None
