"""Publishing change events to the real NATS JetStream at EDM_TEST_NATS_URL (docs/nats.md).

The events are rows of ``record_events`` as the engine writes them, each in
its own transaction; tests/nats/test_end_to_end.py writes them through the API.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import replace
from typing import Any

import orjson
import pytest

from edm.kit.nats import NatsPublisher, Progress
from edm.kit.nats.feed import START
from edm.kit.settings import Settings
from tests.nats.conftest import drain, insert_events, stream_messages
from tests.processes import free_port

pytestmark = pytest.mark.nats


def _run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_each_event_is_one_message_on_its_tenant_subject_with_its_id(stream_settings: Settings, tenant: str) -> None:
    dotted = f"{tenant}.eu west"

    async def scenario() -> list[Any]:
        ids = await insert_events(stream_settings.database_url, dotted, "acc_1", range(1, 4))
        publisher = NatsPublisher(stream_settings)
        try:
            assert await drain(publisher) >= 3
        finally:
            await publisher.stop()
        messages = [m for m in await stream_messages(stream_settings) if (m.headers or {})["Nats-Msg-Id"] in ids]
        assert [m.headers["Nats-Msg-Id"] for m in messages] == ids  # type: ignore[index]
        return messages

    messages = _run(scenario())
    prefix = stream_settings.nats_subject_prefix
    token = f"{tenant}%2Eeu%20west"
    assert [m.subject for m in messages] == [
        f"{prefix}.{token}.accounts.created",
        f"{prefix}.{token}.accounts.updated",
        f"{prefix}.{token}.accounts.updated",
    ]
    first = orjson.loads(messages[0].data or b"")
    assert set(first) == {"id", "type", "account_id", "version", "at", "by", "data"}
    assert first["id"] == messages[0].headers["Nats-Msg-Id"]  # type: ignore[index]
    assert (first["type"], first["account_id"], first["version"], first["by"]) == ("account.created", "acc_1", 1, "user-1")
    assert first["data"] == {"id": "acc_1", "version": 1}
    assert first["at"].endswith("Z")


def test_concurrent_writers_each_tenant_in_commit_order_every_event_once(
    stream_settings: Settings, tenant: str
) -> None:
    """8 writers over 2 tenants commit in an order their seq does not give, while the publisher runs."""
    tenants = [f"{tenant}-a", f"{tenant}-b"]

    async def scenario() -> dict[str, list[str]]:
        publisher = NatsPublisher(replace(stream_settings), batch=50)
        task = publisher.start()

        async def writer(n: int) -> list[str]:
            await asyncio.sleep(random.random() / 50)
            return await insert_events(stream_settings.database_url, tenants[n % 2], f"acc_{n}", range(1, 41))

        written = await asyncio.gather(*(writer(n) for n in range(8)))
        deadline = asyncio.get_running_loop().time() + 30
        everything = {event_id for ids in written for event_id in ids}
        while True:
            seen = {(m.headers or {})["Nats-Msg-Id"] for m in await stream_messages(stream_settings)}
            if everything <= seen or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)
        assert not task.done()
        await publisher.stop()
        by_tenant: dict[str, list[str]] = {}
        for message in await stream_messages(stream_settings):
            by_tenant.setdefault(message.subject.split(".")[1], []).append(message.data.decode())
        return by_tenant

    by_tenant = _run(scenario())
    for name in tenants:
        events = [orjson.loads(data) for data in by_tenant[name]]
        assert len(events) == 160 and len({e["id"] for e in events}) == 160  # every event, once
        for record in {e["account_id"] for e in events}:
            versions = [e["version"] for e in events if e["account_id"] == record]
            assert versions == list(range(1, 41)), (name, record, versions)


def test_a_restarted_publisher_republishes_from_its_position_and_jetstream_drops_the_repeats(
    stream_settings: Settings, tenant: str
) -> None:
    async def scenario() -> tuple[int, int, list[Progress]]:
        await insert_events(stream_settings.database_url, tenant, "acc_1", range(1, 21))
        first = NatsPublisher(stream_settings)
        await drain(first)
        await first.stop()
        before = len(await stream_messages(stream_settings))
        # A publisher that died after JetStream acked and before its position was saved.
        await first.feed.save(stream_settings.nats_stream, START)
        await first.feed.close()
        reports: list[Progress] = []
        second = NatsPublisher(stream_settings, on_progress=reports.append)
        await drain(second)
        await second.stop()
        return before, len(await stream_messages(stream_settings)), reports

    before, after, reports = _run(scenario())
    assert before >= 20 and after == before  # nothing stored twice
    assert sum(r.published for r in reports) == before
    assert sum(r.duplicates for r in reports) == before  # every repeat was recognised as one


def test_an_outage_delays_publishing_and_loses_nothing(stream_settings: Settings, tenant: str) -> None:
    """Pointed at a closed port the publisher retries with backoff and its lag grows; pointed
    at the real server again it publishes everything written meanwhile, in order."""
    down = replace(stream_settings, nats_url=f"nats://127.0.0.1:{free_port()}")

    async def scenario() -> tuple[list[Progress], list[str], list[str]]:
        reports: list[Progress] = []
        publisher = NatsPublisher(down, on_progress=reports.append, backoff_first_s=0.05)
        task = publisher.start()
        ids = await insert_events(stream_settings.database_url, tenant, "acc_1", range(1, 11))  # writes go on
        await asyncio.sleep(1.2)
        failures = [r for r in reports if r.error]
        assert len(failures) >= 2 and not task.done()
        assert failures[-1].lag_seconds > 0
        publisher.servers = [stream_settings.nats_url or ""]  # NATS is back
        deadline = asyncio.get_running_loop().time() + 30
        while asyncio.get_running_loop().time() < deadline:
            if reports[-1].error is None and reports[-1].published == 0:
                break
            await asyncio.sleep(0.1)
        await publisher.stop()
        mine = [m for m in await stream_messages(stream_settings) if (m.headers or {})["Nats-Msg-Id"] in ids]
        return reports, ids, [(m.headers or {})["Nats-Msg-Id"] for m in mine]

    reports, ids, published = _run(scenario())
    assert published == ids
    assert reports[-1].lag_seconds == 0


def test_a_subscriber_to_one_tenant_sees_none_of_another_tenants_events(stream_settings: Settings, tenant: str) -> None:
    """``acme.eu`` is a tenant of its own, not a subject below ``acme``."""
    import nats

    from tests.services import nats_url

    async def scenario() -> list[str]:
        client = await nats.connect(nats_url())
        received: list[str] = []
        prefix = stream_settings.nats_subject_prefix

        async def receive(message: Any) -> None:
            received.append(message.subject)

        subscription = await client.subscribe(f"{prefix}.{tenant}.>", cb=receive)
        await insert_events(stream_settings.database_url, f"{tenant}.eu", "acc_1", range(1, 3))
        await insert_events(stream_settings.database_url, f"{tenant} ", "acc_1", range(1, 3))
        await insert_events(stream_settings.database_url, tenant, "acc_2", range(1, 2))
        publisher = NatsPublisher(stream_settings)
        await drain(publisher)
        await publisher.stop()
        await client.flush()
        # The tenant's own event is published last: once it is here, any wrongly matched one came before it.
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await subscription.unsubscribe()
        await client.close()
        return received

    received = _run(scenario())
    assert received == [f"{stream_settings.nats_subject_prefix}.{tenant}.accounts.created"]
