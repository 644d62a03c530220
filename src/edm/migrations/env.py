"""Runs migrations over the async drivers the service itself uses.

On PostgreSQL an advisory lock makes concurrent ``edm migrate`` / ``edm serve``
starts take turns instead of racing on DDL.
"""

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

_LOCK_KEY = 0x65646D  # "edm"
_CONNECT_TIMEOUT_S = 5


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        render_as_batch=connection.dialect.name == "sqlite",
        # edm.kit.migrate.upgrade collects the revisions it applied through this
        on_version_apply=context.config.attributes.get("on_version_apply", ()),
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"))
        context.run_migrations()


async def _main() -> None:
    url = context.config.attributes["database_url"]
    # A database that does not answer fails the attempt instead of hanging it.
    connect_args = {"timeout": _CONNECT_TIMEOUT_S} if url.startswith("postgresql") else {}
    engine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


asyncio.run(_main())
