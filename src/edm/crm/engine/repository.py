"""SQL for a resource's records, and nothing else.

Every method takes the verified ``Caller`` first and every statement it
emits filters on the caller's tenant (and app, for app callers) through
``_scope``.  Writes are single statements that return the written row.  The
hot statements (get, insert, update, state) name every parameter, so on
PostgreSQL each shape is compiled once and later calls only pass values
(``edm.kit.db.fetch_first``); their keys start with the resource's name, so
two resources never share a compiled statement.

Every write also records its change event (``edm.crm.engine.events``) in the
same transaction: on PostgreSQL inside the write's own statement (a
data-modifying CTE that also reads the row as it was, for ``changes``), on
SQLite with a read before and an INSERT after.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import RowMapping

from edm.crm.engine.events import NOT_CHANGES, changes, event_type, record_events
from edm.crm.engine.list_sql import ListSQL
from edm.crm.engine.listing import ListQuery
from edm.crm.engine.render import DOCUMENT, Renderer
from edm.crm.engine.resource import Resource
from edm.crm.engine.table import Tables
from edm.kit.auth import Caller
from edm.kit.db import Connection, fetch_first
from edm.kit.ids import new_id

__all__ = ["Repository"]

_ONE = sa.literal_column("1", sa.BigInteger())
_E = record_events.c
_NO_DOCUMENT = sa.literal_column("'{}'::jsonb", JSONB)


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
        return sa.insert(self.table).values(bound)

    async def insert(self, conn: Connection, caller: Caller, values: dict[str, Any]) -> RowMapping:
        row = {**values, "tenant_id": caller.tenant_id, "app_id": caller.app_id}
        if conn.dialect.name == "postgresql":
            params = {**row, **self._event_params(caller)}
            build = lambda: self._with_event(self.insert_statement(row, "postgresql"), "create", before=None)  # noqa: E731
            return await fetch_first(conn, (self.name, "insert", *sorted(row)), params, build)
        written = (await conn.execute(self.insert_statement(row, "sqlite").returning(*self.columns))).mappings().one()
        await self._record_sqlite(conn, caller, "create", None, written)
        return written

    # -- change events -----------------------------------------------------------

    def _event_params(self, caller: Caller) -> dict[str, Any]:
        return {"event_id": new_id("evt"), "tenant_id": caller.tenant_id, "actor_app_id": caller.app_id, "event_by": caller.sub}

    def _with_event(self, write: Any, op: str, *, before: list[sa.ColumnElement[bool]] | None, written_columns: Any = ()) -> sa.Select[Any]:
        """``write`` (an INSERT or UPDATE of one row) and its change event, as one PostgreSQL statement.

        An update's ``changes`` compares only the fields among ``written_columns``
        (no other field can change): ``before`` selects their old values, and
        every CTE of a statement reads the same snapshot, so it sees the row
        before ``write`` changed it.  A create stores no ``changes`` (every field
        it set is in ``data``; history derives them from it).
        """
        c = self._c
        fields = self._changed_fields(written_columns)
        returned = dict.fromkeys([c.id, c.version, c.custom_fields, c.app_id, c.updated_at, *(c[name] for name in fields)])
        written = write.returning(*returned, self.render.pg_document()).cte("written")
        source: Any = written
        changes: sa.ColumnElement[Any] = sa.null()
        if before is not None and not fields:
            changes = _NO_DOCUMENT
        elif before is not None:
            prior = sa.select(*(c[name] for name in fields)).where(*before).cte("prior")
            source = written.join(prior, sa.true())
            changes = self._changes_sql(fields, prior, written)
        event = sa.insert(record_events).from_select(
            ["id", "tenant_id", "app_id", "actor_app_id", "resource", "record_id", "version", "type", "at", "by", "changes", "data"],
            sa.select(
                sa.bindparam("event_id", type_=sa.Text),
                sa.bindparam("tenant_id", type_=sa.Text),
                written.c.app_id,
                sa.bindparam("actor_app_id", type_=sa.Text),
                sa.literal_column(f"'{self.name}'", sa.Text),
                written.c.id,
                written.c.version,
                sa.literal_column(f"'{event_type(self.resource.noun, op)}'", sa.Text),
                written.c.updated_at,
                sa.bindparam("event_by", type_=sa.Text),
                changes,
                sa.cast(written.c[DOCUMENT], JSONB),
            ).select_from(source),
        )
        return sa.select(written.c.id, written.c.version, written.c.custom_fields, written.c[DOCUMENT]).add_cte(
            event.cte("event")
        )

    def _changed_fields(self, columns: Any) -> tuple[str, ...]:
        """The document fields among ``columns`` that an entry's ``changes`` may name."""
        return tuple(name for name in self.resource.field_names if name in columns and name not in NOT_CHANGES)

    def _changes_sql(self, fields: tuple[str, ...], prior: Any, written: Any) -> sa.ColumnElement[Any]:
        """``{field: [old, new]}`` for each of ``fields`` whose value differs, in plain expressions.

        (A SQL function doing the same, given two whole documents, was planned
        on every call and cost a third of an update's throughput.)
        """
        pairs: list[Any] = []
        unchanged: list[Any] = []
        for name in fields:
            key = sa.literal_column(f"'{name}'", sa.Text)
            old, new = prior.c[name], written.c[name]
            pairs += [key, sa.func.jsonb_build_array(self.render.pg_value(name, old), self.render.pg_value(name, new))]
            unchanged.append(sa.case((old.is_not_distinct_from(new), key)))
        every = sa.func.jsonb_build_object(*pairs, type_=JSONB)
        return every.op("-", return_type=JSONB)(sa.cast(sa.func.array_remove(postgresql.array(unchanged), sa.null()), postgresql.ARRAY(sa.Text)))

    async def _record_sqlite(
        self, conn: Connection, caller: Caller, op: str, old: RowMapping | None, written: RowMapping
    ) -> None:
        """The change event of a write SQLite has just made (its writes are serial: ``old`` is still current)."""
        after = self.render.record(written)
        await conn.execute(
            sa.insert(record_events).values(
                id=new_id("evt"),
                tenant_id=caller.tenant_id,
                app_id=written["app_id"],
                actor_app_id=caller.app_id,
                resource=self.name,
                record_id=written["id"],
                version=written["version"],
                type=event_type(self.resource.noun, op),
                at=written["updated_at"],
                by=caller.sub,
                changes=sa.null() if old is None else changes(self.render.record(old), after),
                data=after,
            )
        )

    async def _write_sqlite(
        self, conn: Connection, caller: Caller, op: str, write: Any, before: list[sa.ColumnElement[bool]]
    ) -> RowMapping | None:
        old = (await conn.execute(sa.select(*self.columns).where(*before))).mappings().first()
        if old is None:
            return None
        written = (await conn.execute(write.returning(*self.columns))).mappings().first()
        if written is not None:
            await self._record_sqlite(conn, caller, op, old, written)
        return written

    def _row(self, caller: Caller, record_id: str, *, all_apps: bool = False) -> list[sa.ColumnElement[bool]]:
        """The record, live or deleted (``all_apps``: in any app of the tenant)."""
        return [*self.scope(caller, tenant_only=all_apps), self._c.id == sa.bindparam("record_id", record_id)]

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
        all_apps: bool = False,
        include_deleted: bool = False,
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
            updated_by=sa.bindparam("event_by", caller.sub),
        )
        where = [*self._row(caller, record_id, all_apps=all_apps), *self._version_in(allowed_versions)]
        if not include_deleted:
            where.append(sa.not_(self._c.is_deleted))
        return sa.update(self.table).where(*where).values(values)

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
        all_apps: bool = False,
        include_deleted: bool = False,
    ) -> RowMapping | None:
        """Apply ``changes`` in one statement; None when no live row (at an allowed version) matched.

        ``all_apps`` and ``include_deleted``: the record may belong to any app
        of the caller's tenant, and be soft-deleted (a hook's write on the
        caller's behalf, such as clearing a purged parent).
        """
        dialect = conn.dialect.name

        def build() -> sa.Update:
            return self.update_statement(
                caller,
                record_id,
                changes,
                custom_fields_patch=custom_fields_patch,
                allowed_versions=allowed_versions,
                now=now,
                dialect=dialect,
                all_apps=all_apps,
                include_deleted=include_deleted,
            )

        before = self._row(caller, record_id, all_apps=all_apps)
        if dialect == "sqlite":
            return await self._write_sqlite(conn, caller, "update", build(), before)
        params = {
            **self._scope_params(caller, record_id),
            **self._event_params(caller),
            **{f"set_{name}": value for name, value in changes.items()},
            **self._version_params(allowed_versions),
            "custom_fields_patch": custom_fields_patch,
            "now": now,
        }
        key = (
            self.name, "update", caller.app_id is None or all_apps, include_deleted, *sorted(changes),
            custom_fields_patch is not None, len(allowed_versions or ()),
        )  # fmt: skip
        written = [*changes, *(["custom_fields"] if custom_fields_patch is not None else [])]
        return await fetch_first(
            conn, key, params, lambda: self._with_event(build(), "update", before=before, written_columns=written)
        )

    def _flip_deleted(self, caller: Caller, record_id: str, *, delete: bool, allowed: frozenset[int] | None, now: datetime, dialect: str) -> sa.Update:
        """A soft delete (live → deleted) or a restore (deleted → live)."""
        where = [*self._row(caller, record_id), self._c.is_deleted if not delete else sa.not_(self._c.is_deleted)]
        return (
            sa.update(self.table)
            .where(*where, *self._version_in(allowed))
            .values(
                is_deleted=sa.true() if delete else sa.false(),
                deleted_at=sa.bindparam("now", now, type_=self._c.updated_at.type) if delete else sa.null(),
                deleted_by=sa.bindparam("event_by", caller.sub) if delete else sa.null(),
                version=self._c.version + _ONE,
                updated_at=self.later_of(now, self._c.updated_at, dialect),
                updated_by=sa.bindparam("event_by", caller.sub),
            )
        )

    async def _flip(
        self, conn: Connection, caller: Caller, record_id: str, *, delete: bool, allowed: frozenset[int] | None, now: datetime
    ) -> RowMapping | None:
        dialect = conn.dialect.name
        op = "delete" if delete else "restore"
        write = self._flip_deleted(caller, record_id, delete=delete, allowed=allowed, now=now, dialect=dialect)
        before = self._row(caller, record_id)
        if dialect == "sqlite":
            return await self._write_sqlite(conn, caller, op, write, before)
        params = {**self._scope_params(caller, record_id), **self._event_params(caller), **self._version_params(allowed), "now": now}
        key = (self.name, op, caller.app_id is None, len(allowed or ()))
        flipped = ("is_deleted", "deleted_at", "deleted_by")
        return await fetch_first(conn, key, params, lambda: self._with_event(write, op, before=before, written_columns=flipped))

    async def soft_delete(
        self,
        conn: Connection, caller: Caller, record_id: str, *, allowed_versions: frozenset[int] | None, now: datetime
    ) -> RowMapping | None:
        return await self._flip(conn, caller, record_id, delete=True, allowed=allowed_versions, now=now)


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
        return await self._flip(conn, caller, record_id, delete=False, allowed=allowed_versions, now=now)

    async def purge(
        self, conn: Connection, caller: Caller, record_id: str, *, allowed_versions: frozenset[int] | None, now: datetime
    ) -> bool:
        """Delete the row for good (live or soft-deleted), erase its events' changes and data, and record the purge."""
        gone = (
            await conn.execute(
                sa.delete(self.table)
                .where(*self._row(caller, record_id), *self._version_in(allowed_versions))
                .returning(self._c.id, self._c.app_id, self._c.version)
            )
        ).mappings().first()
        if gone is None:
            return False
        of_record = [_E.tenant_id == caller.tenant_id, _E.resource == self.name, _E.record_id == record_id]
        await conn.execute(sa.update(record_events).where(*of_record).values(changes=None, data=None))
        await conn.execute(
            sa.insert(record_events).values(
                id=new_id("evt"),
                tenant_id=caller.tenant_id,
                app_id=gone["app_id"],
                actor_app_id=caller.app_id,
                resource=self.name,
                record_id=record_id,
                version=gone["version"] + 1,
                type=event_type(self.resource.noun, "purge"),
                at=now,
                by=caller.sub,
            )
        )
        return True

    async def children(self, conn: Connection, caller: Caller, column: str, record_id: str) -> list[str]:
        """The ids of the tenant's records (any app) whose ``column`` is ``record_id``."""
        statement = sa.select(self._c.id).where(*self.scope(caller, tenant_only=True), self._c[column] == record_id)
        return list((await conn.execute(statement)).scalars())


    async def exists(self, conn: Connection, caller: Caller, record_id: str) -> bool:
        return await self.state(conn, caller, record_id) is not None
