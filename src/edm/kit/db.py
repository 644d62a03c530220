"""The database engine and the transaction a request owns.

Routes open exactly one transaction per request with ``db.read()`` or
``db.write()``; services and repositories run inside it and never commit.
On SQLite a write transaction starts with ``BEGIN IMMEDIATE`` so that two
writers queue on the busy timeout instead of failing on lock upgrade.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from edm.kit.settings import Settings

__all__ = ["Database"]

_SQLITE_BUSY_TIMEOUT_MS = 30_000


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class Database:
    def __init__(self, settings: Settings) -> None:
        url = settings.resolved_database_url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        common: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
        if self.dialect == "sqlite":
            database = sa.make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: AsyncEngine = create_async_engine(
                url, pool_size=settings.db_pool_size, max_overflow=0, **common
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_async_engine(
                url,
                pool_size=settings.db_pool_size,
                max_overflow=0,
                pool_pre_ping=False,
                connect_args={
                    "server_settings": {
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
                },
                **common,
            )
        self._writer = self.engine.execution_options(edm_write=True)
        # PostgreSQL reads run each statement on its own: no BEGIN/COMMIT round trips.
        self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT") if self.dialect == "postgresql" else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        if self._reader is not None:
            async with self._reader.connect() as conn:
                yield conn
        else:
            async with self.engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self._writer.begin() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


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
