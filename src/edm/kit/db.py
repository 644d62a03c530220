"""The database engine and the transaction a request owns.

Routes open exactly one transaction per request with ``db.read(tenant)`` or
``db.write(tenant)``; services and repositories run inside it and never
commit.  On PostgreSQL the connection runs as the app role and is bound to
the tenant, and row-level security holds every statement to it, whatever its
own predicates say (docs/database.md).  On SQLite a write transaction starts
with ``BEGIN IMMEDIATE`` so that two writers queue on the busy timeout
instead of failing on lock upgrade.

Every wait on the database has a deadline (``EDM_DB_DEADLINE_MS``): the
tenant's share of connections (``edm.kit.shares``), the pool, connecting and
every statement.  Past it the request fails with ``TimeoutError``, which the
edge answers 503 ``database_unavailable`` with ``Retry-After``: a database that
is down, frozen or partitioned away never hangs a request.  PostgreSQL's own
``statement_timeout`` is shorter, so a merely slow statement is cancelled by
the server and the connection stays healthy; a connection cut off by the
deadline is closed, not returned to the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import ClauseElement

from edm.kit.cache import compiled_statement_cache
from edm.kit.errors import DatabaseUnavailable
from edm.kit.pg import (
    PgConnection,
    StatementCache,
    create_pool,
    json_text,
    tenant_transaction,
)
from edm.kit.settings import Settings
from edm.kit.shares import TenantShares

__all__ = ["Database", "Connection", "fetch_first", "execute_many", "among"]

# What read() and write() yield; both answer execute(statement) the same way.
Connection: TypeAlias = AsyncConnection | PgConnection

# Prepared statements each SQLite connection keeps, by SQL text (Python's default: 128)
_SQLITE_CACHED_STATEMENTS = 32


class Database:
    """SQLite through SQLAlchemy's async engine; PostgreSQL through an asyncpg
    pool with statements compiled by SQLAlchemy (``edm.kit.pg``)."""

    def __init__(self, settings: Settings, *, as_owner: bool = False) -> None:
        """``as_owner``: on PostgreSQL, stay the database URL's own user instead of
        switching to the app role (background work across tenants, such as the
        webhook worker, which a policy for the tables' owner lets see every
        tenant's rows)."""
        url = settings.resolved_database_url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self._pool_size = settings.db_pool_size
        self.deadline = settings.db_deadline_ms / 1000
        self.shares = TenantShares(settings.tenant_share)
        # Set while the service must not touch the database (its schema is
        # being brought up to date): every request answers 503 with it.
        self.unavailable: str | None = None
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._statements = StatementCache()
        self.engine: AsyncEngine | None = None
        if self.dialect == "sqlite":
            database = sa.make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_async_engine(
                url,
                pool_size=settings.db_pool_size,
                max_overflow=0,
                pool_timeout=self.deadline,
                json_serializer=json_text,
                json_deserializer=orjson.loads,
                connect_args={"cached_statements": _SQLITE_CACHED_STATEMENTS},
                # instead of SQLAlchemy's own, which counts entries only (500)
                execution_options={"compiled_cache": compiled_statement_cache()},
            )
            _configure_sqlite(self.engine, busy_timeout_ms=settings.db_deadline_ms)
            self._writer = self.engine.execution_options(edm_write=True)
        else:
            self._dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            self._server_settings = {
                # Plan each execution for its own values: a generic plan of a
                # prepared list statement ignores which tenant and which search
                # term is asked and can pick a plan that is wrong for both.
                "plan_cache_mode": "force_custom_plan",
                "statement_timeout": str(settings.statement_timeout_ms),
                # Short OLTP statements on a few cores: compiling them or
                # forking workers for them costs more than it saves.
                "jit": "off",
                "max_parallel_workers_per_gather": "0",
                # Requests run as a role row-level security confines; as a
                # startup parameter, even RESET ALL keeps it.
                "role": settings.db_app_role,
            }
            if as_owner:
                del self._server_settings["role"]

    async def start(self) -> None:
        """Open the connections now rather than on the first request."""
        if self.dialect == "postgresql":
            async with asyncio.timeout(self.deadline):
                await self._pg_pool()

    async def _pg_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await create_pool(
                        self._dsn, size=self._pool_size, server_settings=self._server_settings, timeout=self.deadline
                    )
        return self._pool

    @asynccontextmanager
    async def read(self, tenant: str | None = None) -> AsyncIterator[Connection]:
        """Reads of ``tenant``'s rows (None: of nobody's); on PostgreSQL each
        statement runs on its own (no BEGIN/COMMIT round trips)."""
        if self.engine is None:
            async with self._pg(tenant) as raw:
                await raw.bind(tenant)
                yield PgConnection(raw, self._statements)
        else:
            async with self._sqlite_share(tenant), self.engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def write(self, tenant: str | None = None, *, lock: str | None = None) -> AsyncIterator[Connection]:
        """A transaction on ``tenant``'s rows (None: on nobody's); on PostgreSQL
        it first takes the advisory lock ``lock`` names, if any (SQLite's
        write transactions run one at a time anyway)."""
        if self.engine is None:
            async with self._pg(tenant) as raw, tenant_transaction(raw, tenant, lock):
                yield PgConnection(raw, self._statements)
        else:
            async with self._sqlite_share(tenant), self._writer.begin() as conn:
                yield conn

    @asynccontextmanager
    async def _pg(self, tenant: str | None) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection within the tenant's share, everything under the deadline."""
        self._check_available()
        async with asyncio.timeout(self.deadline):
            async with self.shares.hold(tenant or ""):
                pool = await self._pg_pool()
                raw = await pool.acquire()
                try:
                    yield raw
                except (TimeoutError, asyncio.CancelledError):
                    # Cut off mid-statement (deadline, client gone): the server
                    # may never answer on it, so it is closed, not reused.
                    raw.terminate()
                    raise
                finally:
                    await pool.release(raw)

    @asynccontextmanager
    async def _sqlite_share(self, tenant: str | None) -> AsyncIterator[None]:
        # Only the waits are bounded here: the pool's checkout (pool_timeout)
        # and lock waits (busy_timeout) carry the same deadline, and a
        # statement running in aiosqlite's thread cannot be cut off safely.
        self._check_available()
        async with AsyncExitStack() as held:
            async with asyncio.timeout(self.deadline):
                await held.enter_async_context(self.shares.hold(tenant or ""))
            yield

    def _check_available(self) -> None:
        if self.unavailable is not None:
            raise DatabaseUnavailable(self.unavailable, headers={"Retry-After": "1"})

    def pool_counts(self) -> tuple[int, int]:
        """Connections (checked out, idle) in this process."""
        if self.engine is not None:
            pool: Any = self.engine.pool
            return pool.checkedout(), pool.checkedin()
        if self._pool is None:
            return 0, 0
        idle = self._pool.get_idle_size()
        return self._pool.get_size() - idle, idle

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


async def fetch_first(
    conn: Connection, key: Hashable, params: Mapping[str, Any], build: Callable[[], ClauseElement]
) -> Any:
    """The first row of a hot statement, or None.

    On PostgreSQL ``key`` names the statement's shape and ``build`` runs only
    the first time; ``params`` holds the value of every named bind parameter.
    On SQLite the statement is built and run through SQLAlchemy.
    """
    if isinstance(conn, PgConnection):
        return await conn.fetch_first(key, params, build)
    return (await conn.execute(build())).mappings().first()  # type: ignore[call-overload]


def among(columns: Sequence[Any], values: Sequence[Any], name: str, dialect: str) -> Any:
    """``columns IN values`` (one column: values; several: tuples of values).

    On PostgreSQL as arrays (``= ANY``, ``unnest``), so the statement's SQL is
    the same whatever the count and is compiled once; an IN list would be
    compiled again for every count.
    """
    if dialect != "postgresql":
        return (columns[0] if len(columns) == 1 else sa.tuple_(*columns)).in_(list(values))
    if len(columns) == 1:
        return columns[0] == sa.any_(sa.bindparam(name, list(values), type_=ARRAY(sa.Text)))
    arrays = [
        sa.func.unnest(sa.bindparam(f"{name}_{n}", [row[n] for row in values], type_=ARRAY(sa.Text))) for n in range(len(columns))
    ]
    return sa.tuple_(*columns).in_(sa.select(*arrays))


async def execute_many(
    conn: Connection, key: Hashable, rows: Sequence[Mapping[str, Any]], build: Callable[[], ClauseElement]
) -> None:
    """A write statement once per row of named parameters: ``fetch_first``'s rules, for many rows at once."""
    if not rows:
        return
    if isinstance(conn, PgConnection):
        await conn.execute_many(key, rows, build)
        return
    await conn.execute(build(), [dict(row) for row in rows])  # type: ignore[call-overload]


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (the driver's implicit BEGIN is DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except Exception as exc:
            # A read-only file keeps its journal mode: reads work, writes answer 503.
            if "readonly" not in str(exc):
                raise
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("edm_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
