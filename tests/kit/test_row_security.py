"""The second lock (docs/database.md): on PostgreSQL, row-level security holds
every statement to the tenant its checkout is bound to, whatever the
statement's own predicates say.

The statements here leave the tenant predicate out on purpose, and run on
connections set up exactly as the server sets up its own (``Database``).
The pool has one connection, so every checkout reuses the session the
previous one left behind.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from edm.kit.db import Connection, Database
from edm.kit.idempotency import delete_expired
from edm.kit.pg import PgConnection, StatementCache, leaky_index_functions
from tests.conftest import Api, base_settings, make_token

pytestmark = pytest.mark.postgres
T = TypeVar("T")
TENANT_TABLES = {"accounts", "account_counts", "idempotency_keys"}


class RolledBack(Exception):
    """Raised to end a write transaction without committing it."""


def _with_db(url: str, data_dir: Path, work: Callable[[Database], Awaitable[T]]) -> T:
    async def main() -> T:
        db = Database(base_settings(url, data_dir, db_pool_size=1))
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


async def _tenants(conn: Connection, table: str) -> set[str]:
    """Whose rows ``table`` shows: a query that forgot its tenant predicate."""
    return set(
        (await conn.execute(sa.text(f"SELECT tenant_id FROM {table}"))).scalars()
    )


async def _rows_in(
    db: Database, tenant: str | None, *, write: bool = False
) -> dict[str, set[str]]:
    checkout = db.write(tenant) if write else db.read(tenant)
    async with checkout as conn:
        return {table: await _tenants(conn, table) for table in sorted(TENANT_TABLES)}


@pytest.fixture
def two_tenants(http_clients: dict[str, httpx.Client]) -> tuple[str, str]:
    """Two tenants with accounts, counters and idempotency keys on PostgreSQL;
    the first one's id needs quoting in SQL (the write path sends it as a literal)."""
    base = f"tenant-{uuid.uuid4().hex[:12]}"
    tenants = (f"{base}-o'brien\\", f"{base}-other")
    for tenant in tenants:
        api = Api(http_clients["postgresql"], "postgresql", tenant, make_token(tenant))
        response = api.create(
            {"name": "Acme"}, headers={"Idempotency-Key": f"key-{uuid.uuid4()}"}
        )
        assert response.status_code == 201, response.text
    return tenants


def _only(tenant: str) -> dict[str, set[str]]:
    return {table: {tenant} for table in sorted(TENANT_TABLES)}


NOTHING: dict[str, set[str]] = {table: set() for table in sorted(TENANT_TABLES)}


def test_a_statement_without_its_tenant_predicate_sees_only_the_bound_tenant(
    database_urls: dict[str, str], tmp_path: Path, two_tenants: tuple[str, str]
) -> None:
    a, b = two_tenants

    async def work(db: Database) -> None:
        assert await _rows_in(db, a) == _only(a)
        assert await _rows_in(db, a) == _only(
            a
        )  # the same tenant again: nothing to set
        assert await _rows_in(db, b) == _only(b)
        assert await _rows_in(db, None) == NOTHING
        assert await _rows_in(db, a, write=True) == _only(a)
        assert (
            await _rows_in(db, None) == NOTHING
        )  # the write's tenant ended with its transaction
        assert await _rows_in(db, b) == _only(b)
        assert await _rows_in(db, None, write=True) == NOTHING  # over the session's b
        assert await _rows_in(db, a, write=True) == _only(a)
        assert await _rows_in(db, b) == _only(b)

    _with_db(database_urls["postgresql"], tmp_path, work)


def test_no_tenant_means_no_writes_and_a_tenant_writes_only_its_rows(
    database_urls: dict[str, str], tmp_path: Path, two_tenants: tuple[str, str]
) -> None:
    a, b = two_tenants

    async def changed(db: Database, tenant: str | None, statement: str) -> int:
        """How many rows ``statement`` (with RETURNING) changes, rolled back."""
        counted = 0
        with pytest.raises(RolledBack):
            async with db.write(tenant) as conn:
                counted = (await conn.execute(sa.text(statement))).rowcount
                raise RolledBack
        return counted

    async def work(db: Database) -> None:
        assert (
            await changed(db, a, "UPDATE accounts SET version = version RETURNING id")
            == 1
        )
        assert (
            await changed(
                db, None, "UPDATE accounts SET version = version RETURNING id"
            )
            == 0
        )
        assert (
            await changed(db, None, "DELETE FROM idempotency_keys RETURNING key") == 0
        )
        with pytest.raises(
            asyncpg.InsufficientPrivilegeError, match="row-level security"
        ):
            async with db.write(a) as conn:  # making it a row of another tenant
                await conn.execute(sa.text(f"UPDATE accounts SET tenant_id = '{b}'"))
        with pytest.raises(
            asyncpg.InsufficientPrivilegeError, match="permission denied"
        ):
            async with db.write(
                b
            ) as conn:  # only triggers change the counters, and never delete them
                await conn.execute(sa.text("DELETE FROM account_counts"))
        with pytest.raises(
            asyncpg.InsufficientPrivilegeError, match="row-level security"
        ):
            async with db.write(None) as conn:
                await conn.execute(
                    sa.text(
                        "INSERT INTO idempotency_keys (tenant_id, app_key, method, route, key, fingerprint, created_at, expires_at)"
                        " VALUES (:a, '', 'POST', '/x', 'k', 'f', now(), now())"
                    ).bindparams(a=a)
                )

    _with_db(database_urls["postgresql"], tmp_path, work)


def test_the_sweep_deletes_expired_keys_of_every_tenant_and_no_request_sees_them(
    database_urls: dict[str, str], tmp_path: Path, two_tenants: tuple[str, str]
) -> None:
    a, b = two_tenants

    async def keys(db: Database, tenant: str | None) -> list[tuple[str, bool]]:
        async with db.read(tenant) as conn:
            rows = await conn.execute(
                sa.text("SELECT tenant_id, expires_at <= now() FROM idempotency_keys")
            )
            return sorted((r[0], r[1]) for r in rows)

    async def work(db: Database) -> None:
        for tenant in (a, b):
            async with db.write(tenant) as conn:
                await conn.execute(
                    sa.text(
                        "UPDATE idempotency_keys SET expires_at = now() - interval '1 minute'"
                    )
                )
        assert await keys(db, a) == [(a, True)]
        assert (
            await keys(db, None) == []
        )  # expired keys show only to the sweep's own transaction
        assert await delete_expired(db) >= 2
        assert await keys(db, a) == [] and await keys(db, b) == []
        assert await keys(db, None) == []

    _with_db(database_urls["postgresql"], tmp_path, work)


def test_every_tenant_table_forces_row_security_with_a_tenant_policy(
    database_urls: dict[str, str], tmp_path: Path
) -> None:
    async def work(db: Database) -> list[Any]:
        async with db.read(None) as conn:
            rows = await conn.execute(
                sa.text(
                    "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
                    " (SELECT array_agg(p.qual) FROM pg_policies p WHERE p.tablename = c.relname AND p.cmd = 'ALL')"
                    " FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped"
                    " WHERE c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace ORDER BY 1"
                )
            )
            return list(rows)

    tables = _with_db(database_urls["postgresql"], tmp_path, work)
    assert TENANT_TABLES <= {name for name, *_ in tables}
    for name, enabled, forced, policies in tables:
        assert enabled and forced, name
        assert policies and any(
            "current_setting('edm.tenant_id'" in p and "tenant_id =" in p
            for p in policies
        ), (name, policies)


def test_requests_run_as_a_role_that_is_neither_superuser_nor_owner_nor_bypassrls(
    database_urls: dict[str, str], tmp_path: Path
) -> None:
    async def work(db: Database) -> tuple[Any, ...]:
        async with db.read(None) as conn:
            row = (
                await conn.execute(
                    sa.text(
                        "SELECT current_user, r.rolsuper, r.rolbypassrls,"
                        " (SELECT bool_or(pg_has_role(current_user, c.relowner, 'USAGE')) FROM pg_class c"
                        "  WHERE c.relname IN ('accounts', 'account_counts', 'idempotency_keys', 'alembic_version')"
                        "  AND c.relnamespace = current_schema()::regnamespace)"
                        " FROM pg_roles r WHERE r.rolname = current_user"
                    )
                )
            ).one()
            return tuple(row)

    assert _with_db(database_urls["postgresql"], tmp_path, work) == (
        "edm_app",
        False,
        False,
        False,
    )


def test_the_functions_gin_plans_need_are_leakproof_and_a_lost_mark_is_named(
    database_urls: dict[str, str],
) -> None:
    """Migration 1600 marks them; a dump restored elsewhere would not carry the marks."""

    async def work() -> None:
        raw = await asyncpg.connect(
            database_urls["postgresql"]
        )  # the owner, a superuser here
        try:
            conn = PgConnection(raw, StatementCache())
            assert await leaky_index_functions(conn) == []
            with pytest.raises(RolledBack):
                async with raw.transaction():
                    await raw.execute(
                        "ALTER FUNCTION pg_catalog.jsonb_contains(jsonb, jsonb) NOT LEAKPROOF"
                    )
                    assert await leaky_index_functions(conn) == [
                        "jsonb_contains(jsonb,jsonb)"
                    ]
                    raise RolledBack
        finally:
            await raw.close()

    asyncio.run(work())
