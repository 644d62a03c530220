"""The outside services some tests need, and what happens when one is missing.

Each service has a pytest marker (``postgres``, ``redis``, ``redis_server``,
``chromium``, ``nats``).  Before the first test runs, the services the selected tests
need are probed once.  A missing service skips its tests with one reason, the
same for every test, so ``-ra`` prints it on one line with the count.  Naming
the service in ``EDM_TEST_REQUIRE`` (comma-separated, or ``all``; CI sets
``all``) stops the run at once instead.  docs/development.md has the details.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import pytest
import redis
import sqlalchemy as sa

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEFAULT_NATS = "nats://127.0.0.1:4222"
PROBE_TIMEOUT_S = 3


def pg_admin_url() -> str:
    """A PostgreSQL server the suite may create databases on (a database is made per run)."""
    return os.environ.get("EDM_TEST_DATABASE_URL") or DEFAULT_PG


def redis_url() -> str:
    return os.environ.get("EDM_TEST_REDIS_URL") or DEFAULT_REDIS


def nats_url() -> str:
    """A NATS server with JetStream; tests make uniquely named streams on it and delete them."""
    return os.environ.get("EDM_TEST_NATS_URL") or DEFAULT_NATS


def _failure(error: BaseException) -> str:
    if isinstance(error, OSError):  # its text only repeats the address
        return type(error).__name__
    return f"{type(error).__name__}: {error}"[:120]


async def pg_admin_connect(timeout: float = 60) -> asyncpg.Connection:
    """A connection to the administrative database of the suite's PostgreSQL."""
    url = sa.make_url(pg_admin_url())
    return await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
        timeout=timeout,
    )


def _probe_postgres() -> str | None:
    async def connect() -> None:
        conn = await pg_admin_connect(timeout=PROBE_TIMEOUT_S)
        await conn.close()

    try:
        asyncio.run(connect())
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        return f"unreachable ({_failure(error)})"
    return None


def _probe_redis() -> str | None:
    try:
        with redis.Redis.from_url(redis_url(), socket_connect_timeout=PROBE_TIMEOUT_S, socket_timeout=PROBE_TIMEOUT_S) as client:
            client.ping()
    except (OSError, redis.RedisError) as error:
        return f"unreachable ({_failure(error)})"
    return None


def _probe_nats() -> str | None:
    import nats
    import nats.errors

    async def account_info() -> None:
        client = await nats.connect(
            nats_url(), connect_timeout=PROBE_TIMEOUT_S, allow_reconnect=False, max_reconnect_attempts=1,
            error_cb=_ignore,
        )
        try:
            await client.jetstream().account_info()  # answers only when JetStream is enabled
        finally:
            await client.close()

    async def quietly() -> None:
        async with asyncio.timeout(PROBE_TIMEOUT_S * 2):
            await account_info()

    try:
        asyncio.run(quietly())
    except (OSError, TimeoutError, nats.errors.Error) as error:
        return f"unreachable or without JetStream ({_failure(error)})"
    return None


async def _ignore(error: Exception) -> None:
    """nats-py prints connection errors unless given a callback; the probe reports its own."""


def chromium_path() -> str | None:
    return shutil.which("chromium") or (os.path.exists("/usr/bin/chromium") and "/usr/bin/chromium") or None


def _probe_program(find: Callable[[], str | None]) -> Callable[[], str | None]:
    return lambda: None if find() else "not installed"


@dataclass
class Service:
    marker: str
    describe: Callable[[], str]
    probe: Callable[[], str | None]  # None when usable, otherwise what is wrong
    remedy: str
    problem: str | None = None
    checked: bool = False

    def check(self) -> str | None:
        if not self.checked:
            self.problem, self.checked = self.probe(), True
        return self.problem

    @property
    def usable(self) -> bool:
        return self.checked and self.problem is None

    @property
    def skip_reason(self) -> str:
        return (
            f"{self.describe()} {self.problem}: its tests are skipped; {self.remedy}"
            f" (EDM_TEST_REQUIRE={self.marker} makes this a failure)"
        )


def _pg_address() -> str:
    url = sa.make_url(pg_admin_url())
    return f"PostgreSQL at {url.host or '127.0.0.1'}:{url.port or 5432}"


POSTGRES = Service(
    "postgres", _pg_address, _probe_postgres, "start it or point EDM_TEST_DATABASE_URL at one"
)
REDIS = Service(
    "redis", lambda: f"Redis at {redis_url()}", _probe_redis, "start it or point EDM_TEST_REDIS_URL at one"
)
REDIS_SERVER = Service(
    "redis_server",
    lambda: "redis-server",
    _probe_program(lambda: shutil.which("redis-server")),
    "install it (Debian: apt-get install redis-server)",
)
CHROMIUM = Service(
    "chromium", lambda: "chromium", _probe_program(chromium_path), "install it (Debian: apt-get install chromium)"
)
NATS = Service(
    "nats",
    lambda: f"NATS at {nats_url()}",
    _probe_nats,
    "start it with JetStream (nats-server -js) or point EDM_TEST_NATS_URL at one",
)
SERVICES = {service.marker: service for service in (POSTGRES, REDIS, REDIS_SERVER, CHROMIUM, NATS)}


def required() -> set[str]:
    """The services ``EDM_TEST_REQUIRE`` makes mandatory; a misspelt name is an error, not a silent skip."""
    names = {n.strip() for n in os.environ.get("EDM_TEST_REQUIRE", "").replace(",", " ").split() if n.strip()}
    if "all" in names:
        return set(SERVICES)
    unknown = names - set(SERVICES)
    if unknown:
        raise pytest.UsageError(
            f"EDM_TEST_REQUIRE names {', '.join(sorted(unknown))}; known: all, {', '.join(SERVICES)}"
        )
    return names


def skip_unavailable(service: Service) -> None:
    """Every skip for a missing service is raised here, so ``-ra`` groups them into one line."""
    pytest.skip(service.skip_reason)
