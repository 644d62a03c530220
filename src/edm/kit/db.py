"""The database engine and the transaction a request owns.

Routes open exactly one transaction per request with ``db.read()`` or
``db.write()``; services and repositories run inside it and never commit.
On SQLite a write transaction starts with ``BEGIN IMMEDIATE`` so that two
writers queue on the busy timeout instead of failing on lock upgrade.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import ClauseElement

from edm.kit.cache import compiled_statement_cache
from edm.kit.pg import PgConnection, StatementCache, create_pool, json_text
from edm.kit.settings import Settings

__all__ = ["Database", "Connection", "fetch_first"]

# What read() and write() yield; both answer execute(statement) the same way.
Connection: TypeAlias = AsyncConnection | PgConnection

_SQLITE_BUSY_TIMEOUT_MS = 30_000
# Prepared statements each SQLite connection keeps, by SQL text (Python's default: 128)
_SQLITE_CACHED_STATEMENTS = 32


class Database:
    """SQLite through SQLAlchemy's async engine; PostgreSQL through an asyncpg
    pool with statements compiled by SQLAlchemy (``edm.kit.pg``)."""

    def __init__(self, settings: Settings) -> None:
        url = settings.resolved_database_url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self._pool_size = settings.db_pool_size
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
                json_serializer=json_text,
                json_deserializer=orjson.loads,
                connect_args={"cached_statements": _SQLITE_CACHED_STATEMENTS},
                # instead of SQLAlchemy's own, which counts entries only (500)
                execution_options={"compiled_cache": compiled_statement_cache()},
            )
            _configure_sqlite(self.engine)
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
            }

    async def start(self) -> None:
        """Open the connections now rather than on the first request."""
        if self.dialect == "postgresql":
            await self._pg_pool()

    async def _pg_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await create_pool(self._dsn, size=self._pool_size, server_settings=self._server_settings)
        return self._pool

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        """Reads; on PostgreSQL each statement runs on its own (no BEGIN/COMMIT round trips)."""
        if self.engine is None:
            async with (await self._pg_pool()).acquire() as raw:
                yield PgConnection(raw, self._statements)
        else:
            async with self.engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        if self.engine is None:
            async with (await self._pg_pool()).acquire() as raw, raw.transaction():
                yield PgConnection(raw, self._statements)
        else:
            async with self._writer.begin() as conn:
                yield conn

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
    return (await conn.execute(build())).mappings().first()  # type: ignore[arg-type]


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (the driver's implicit BEGIN is DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("edm_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
