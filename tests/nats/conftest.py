"""A fresh database per backend and a uniquely named JetStream stream per test.

Each test's stream has its own subject prefix too (streams may not share
subjects), and is deleted afterwards, so tests never see each other's
messages nor an operator's ``EDM`` stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import nats.js.errors
import pytest
import sqlalchemy as sa
from nats.js.api import RawStreamMsg
from sqlalchemy.ext.asyncio import create_async_engine

from edm.kit.migrate import upgrade
from edm.kit.settings import Settings
from tests.conftest import SECRET, scratch_postgres_database
from tests.services import nats_url


@pytest.fixture(scope="module")
def nats_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """backend -> a migrated database of this module's own (the publisher reads every tenant's events)."""
    with_pg: list[Any] = []

    class Lazy(dict[str, str]):
        def __missing__(self, backend: str) -> str:
            if backend == "sqlite":
                url = f"sqlite:///{tmp_path_factory.mktemp('nats') / 'edm.sqlite3'}"
            else:
                manager = scratch_postgres_database()
                url = manager.__enter__()
                with_pg.append(manager)
            upgrade(Settings(database_url=url, jwt_secret=SECRET))
            self[backend] = url
            return url

    lazy = Lazy()
    yield lazy
    for manager in with_pg:
        manager.__exit__(None, None, None)


@pytest.fixture
def stream_settings(backend: str, nats_databases: dict[str, str], tmp_path: Path) -> Iterator[Settings]:
    """Settings publishing this test's database to a new stream (deleted afterwards)."""
    suffix = uuid.uuid4().hex[:10]
    settings = Settings(
        data_dir=tmp_path,
        database_url=nats_databases[backend],
        jwt_secret=SECRET,
        nats_url=nats_url(),
        nats_stream=f"EDMTEST_{suffix}",
        nats_subject_prefix=f"edmtest{suffix}",
    )
    yield settings
    asyncio.run(_delete_stream(settings.nats_stream))


async def _delete_stream(name: str) -> None:
    client = await nats.connect(nats_url())
    try:
        with contextlib.suppress(nats.js.errors.NotFoundError):  # the test never created it
            await client.jetstream().delete_stream(name)
    finally:
        await client.close()


async def stream_messages(settings: Settings) -> list[RawStreamMsg]:
    """Every message of the test's stream, in stream order."""
    client = await nats.connect(nats_url())
    try:
        js = client.jetstream()
        count = (await js.stream_info(settings.nats_stream)).state.messages
        return [await js.get_msg(settings.nats_stream, seq) for seq in range(1, count + 1)]
    finally:
        await client.close()


_INSERT = sa.text(
    'INSERT INTO record_events (id, tenant_id, resource, record_id, version, type, at, "by", data)'
    " VALUES (:id, :tenant_id, 'accounts', :record_id, :version, :type, :at, 'user-1', :data)"
)


async def insert_events(database_url: str, tenant: str, record_id: str, versions: range) -> list[str]:
    """Events of one record as the engine writes them, one transaction each; their ids."""
    engine = create_async_engine(Settings(database_url=database_url).resolved_database_url, pool_size=1)
    ids = []
    try:
        for version in versions:
            event_id = f"evt_{uuid.uuid4().hex}"
            async with engine.begin() as conn:
                sqlite = conn.dialect.name == "sqlite"
                now = datetime.now(UTC)
                await conn.execute(
                    _INSERT,
                    {
                        "id": event_id,
                        "tenant_id": tenant,
                        "record_id": record_id,
                        "version": version,
                        "type": "account.created" if version == 1 else "account.updated",
                        "at": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if sqlite else now,
                        "data": f'{{"id": "{record_id}", "version": {version}}}',
                    },
                )
            ids.append(event_id)
    finally:
        await engine.dispose()
    return ids


async def drain(publisher: Any) -> int:
    """Run rounds until one publishes nothing; how many were published."""
    total = 0
    while (progress := await publisher.run_once()).published:
        total += progress.published
    return total
