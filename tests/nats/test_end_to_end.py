"""Writes through the API reach JetStream as the feed shows them: same events, same order, same shape."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from edm.kit.nats import NatsPublisher
from edm.kit.settings import Settings
from tests.conftest import ACCOUNTS, Started, base_settings, make_token
from tests.feed import settled
from tests.nats.conftest import drain, stream_messages

pytestmark = pytest.mark.nats


def test_api_writes_are_published_as_the_feed_shows_them(
    stream_settings: Settings, serve_for_test: Started, tenant: str
) -> None:
    import httpx

    url = serve_for_test(base_settings(stream_settings.database_url, stream_settings.data_dir))
    headers = {"Authorization": f"Bearer {make_token(tenant)}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        created = http.post(ACCOUNTS, json={"name": "Acme"}).json()
        assert http.patch(f"{ACCOUNTS}/{created['id']}", json={"name": "Acme 2"}).status_code == 200
        assert http.delete(f"{ACCOUNTS}/{created['id']}").status_code in (200, 204)
        feed = settled(lambda: http.get(f"{ACCOUNTS}/events").json()["data"], lambda data: len(data) >= 3)

    async def publish() -> list[tuple[str, dict[str, object]]]:
        publisher = NatsPublisher(stream_settings)
        await drain(publisher)
        await publisher.stop()
        return [(m.subject, orjson.loads(m.data or b"")) for m in await stream_messages(stream_settings)]

    prefix = stream_settings.nats_subject_prefix
    mine = [(s, e) for s, e in asyncio.run(publish()) if s.split(".")[1] == tenant]
    assert [s for s, _ in mine] == [f"{prefix}.{tenant}.accounts.{op}" for op in ("created", "updated", "deleted")]
    assert [e for _, e in mine] == feed
