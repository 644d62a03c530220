"""The account hierarchy: rules accounts add to the record engine.

* A parent must be a live account the caller can see; never the account
  itself; never a cycle (the walk crosses app boundaries on purpose: a cycle
  through another app's record is still a cycle).
* Re-parenting is serialized per tenant (a PostgreSQL advisory lock; SQLite
  writes are serial anyway), so two concurrent moves cannot form a cycle.
* ``filter[parent_account_id][under]=ID`` matches every descendant of ID.
* Purging an account clears ``parent_account_id`` on its children (a write to each,
  with its change event; the children are locked before the purge's first write).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from edm.crm.engine.events import lock_records
from edm.crm.engine.fields import Field
from edm.crm.engine.list_sql import ListSQL
from edm.crm.engine.listing import Filter
from edm.crm.engine.repository import Repository
from edm.crm.engine.resource import Hooks
from edm.kit.auth import Caller
from edm.kit.db import Connection
from edm.kit.errors import FieldError, NotFound, ValidationFailed

__all__ = ["Hierarchy"]

PARENT = "parent_account_id"
_MAX_DEPTH = 10_000


class Hierarchy(Hooks):
    extra_operators = {PARENT: ("under",)}
    operator_words = {"under": "is a descendant, at any depth, of this account"}

    def operator_schema(self, field: Field, op: str) -> dict[str, Any]:
        assert field.format is not None
        return {"type": "string", **field.format.input_schema}

    def parse_operator(self, field: Field, op: str, raw: str) -> Any:
        assert field.format is not None
        return field.format.filter_value(raw)

    def predicate(self, sql: ListSQL, f: Filter, tenant_id: str) -> sa.ColumnElement[bool]:
        """Every account below ``f.value`` in the tenant, at any depth (UNION stops on repeats)."""
        table = sql.table
        child = table.alias("child")
        roots = sa.select(child.c.id).where(child.c.tenant_id == tenant_id, child.c[PARENT] == f.value)
        seed = roots.cte("tree", recursive=True)
        below = table.alias("below")
        tree = seed.union(sa.select(below.c.id).where(below.c.tenant_id == tenant_id, below.c[PARENT] == seed.c.id))
        return table.c.id.in_(sa.select(tree.c.id))

    async def before_create(self, repo: Repository, conn: Connection, caller: Caller, values: dict[str, Any]) -> None:
        if values[PARENT] is not None:
            await _check_parent(repo, conn, caller, None, values[PARENT])

    async def before_update(
        self, repo: Repository, conn: Connection, caller: Caller, record_id: str, values: dict[str, Any]
    ) -> None:
        if values.get(PARENT) is not None:
            if await repo.state(conn, caller, record_id) is None:
                raise NotFound(f"no {repo.resource.noun} has this id")
            await _check_parent(repo, conn, caller, record_id, values[PARENT])

    async def before_purge(self, repo: Repository, conn: Connection, caller: Caller, record_id: str) -> None:
        """Hold off new children (``_check_parent``), then lock the children the purge will write."""
        await lock_records(conn, caller.tenant_id, [record_id], kind="children")
        await lock_records(conn, caller.tenant_id, await repo.children(conn, caller, PARENT, record_id))

    async def after_purge(self, repo: Repository, conn: Connection, caller: Caller, record_id: str, now: datetime) -> None:
        """Children of a purged account lose the pointer (a write to each, in any app, with its event)."""
        for child in await repo.children(conn, caller, PARENT, record_id):
            await repo.update(
                conn, caller, child, {PARENT: None},
                custom_fields_patch=None, allowed_versions=None, now=now, all_apps=True, include_deleted=True,
            )  # fmt: skip


async def _check_parent(repo: Repository, conn: Connection, caller: Caller, account_id: str | None, parent_id: str) -> None:
    def fail(message: str) -> ValidationFailed:
        return ValidationFailed(message, errors=[FieldError(PARENT, message)])

    if parent_id == account_id:
        raise fail("an account cannot be its own parent")
    if account_id is not None:
        await _lock(conn, caller)
    # The parent cannot be purged (which writes to its children) before this write commits.
    await lock_records(conn, caller.tenant_id, [parent_id], kind="children", shared=True)
    if not await repo.exists(conn, caller, parent_id):
        raise fail("no account with this id exists")
    if account_id is not None and account_id in await _ancestors(repo, conn, caller, parent_id):
        raise fail("this parent would make the hierarchy a cycle")


async def _ancestors(repo: Repository, conn: Connection, caller: Caller, account_id: str) -> set[str]:
    """``account_id`` and every account above it in the caller's tenant (UNION stops on repeats)."""
    c = repo.table.c
    seed = sa.select(c.id, c[PARENT], sa.literal(0).label("depth")).where(
        *repo.scope(caller, tenant_only=True), c.id == account_id
    )
    chain = seed.cte("chain", recursive=True)
    parent = repo.table.alias("parent")
    chain = chain.union(
        sa.select(parent.c.id, parent.c[PARENT], chain.c.depth + 1).where(
            parent.c.tenant_id == caller.tenant_id,
            parent.c.id == chain.c[PARENT],
            chain.c.depth < _MAX_DEPTH,
        )
    )
    result = await conn.execute(sa.select(chain.c.id))
    return set(result.scalars())


async def _lock(conn: Connection, caller: Caller) -> None:
    """Serialize re-parenting within a tenant.  SQLite needs nothing: its write transactions run one at a time."""
    if conn.dialect.name == "postgresql":
        key = sa.func.hashtextextended(sa.literal("edm.accounts.hierarchy:" + caller.tenant_id), 0)
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
