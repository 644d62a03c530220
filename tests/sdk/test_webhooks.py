"""``client.webhooks`` (sync and async) against a live server with its delivery worker and a receiver on 127.0.0.1."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from standardwebhooks import Webhook

import edm
from edm.sdk.types.webhook import WebhookEndpoint
from tests.conftest import SECRET, Started, base_settings, make_token
from tests.sdk.conftest import run
from tests.webhooks.harness import ADMIN, Receiver, fresh_database, write_event


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of its own on SQLite, delivering from its process, allowed to call 127.0.0.1."""
    data_dir = tmp_path_factory.mktemp("sdk-hooks")
    with fresh_database("sqlite", data_dir) as database_url:
        settings = replace(
            base_settings(database_url, data_dir), jwt_secret=SECRET, webhooks_allow_private=True,
            webhooks_in_process=True, webhooks_retry_base_s=0.2,
        )  # fmt: skip
        started = Started()
        try:
            yield started(settings)
        finally:
            started.stop()


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def client(base_url: str, tenant: str) -> Iterator[edm.Client]:
    with edm.Client(base_url, make_token(tenant, scope=ADMIN)) as client:
        yield client


def test_create_get_list_update_delete(client: edm.Client) -> None:
    created = client.webhooks.create(url="https://93.184.215.14/a", events=["account.created"], description="one")
    assert isinstance(created, WebhookEndpoint)
    assert created.secret and created.secret.startswith("whsec_") and created.status == "enabled"
    shown = client.webhooks.get(created.id)
    assert shown.secret is None and shown.url == created.url and shown.events == ["account.created"]
    others = [client.webhooks.create(url=f"https://93.184.215.14/{n}", events=["*"]).id for n in range(3)]
    page = client.webhooks.list(limit=2)
    assert len(page.data) == 2 and page.has_more
    assert [e.id for e in page] == [created.id, *others]  # every page, oldest first
    paused = client.webhooks.update(created.id, enabled=False, description=None)
    assert paused.status == "disabled" and "disabled through the API" in (paused.disabled_reason or "")
    assert paused.description is None and paused.events == ["account.created"]
    again = client.webhooks.update(created.id, enabled=True, events=["account.created", "account.deleted"])
    assert again.status == "enabled" and again.disabled_reason is None
    assert again.events == ["account.created", "account.deleted"]
    client.webhooks.delete(created.id)
    with pytest.raises(edm.NotFoundError):
        client.webhooks.get(created.id)


def test_errors_are_the_sdks_typed_errors(base_url: str, client: edm.Client, tenant: str) -> None:
    with pytest.raises(edm.UnprocessableEntityError) as refused:
        client.webhooks.create(url="https://93.184.215.14/x", events=["account.exploded"])
    assert [e.field for e in refused.value.errors] == ["events"]
    with edm.Client(base_url, make_token(tenant, scope="crm.accounts.read")) as reader:
        with pytest.raises(edm.PermissionDeniedError):
            reader.webhooks.list()


def test_deliveries_and_replay(base_url: str, client: edm.Client, tenant: str) -> None:
    receiver = Receiver()
    with receiver.serving() as url, httpx.Client(base_url=base_url) as http:
        endpoint = client.webhooks.create(url=url, events=["account.created"])
        accounts = [write_event(http, tenant) for _ in range(3)]
        receiver.wait_for(3)
        deadline = time.monotonic() + 10
        while True:
            log = list(client.webhooks.deliveries(endpoint.id, limit=2))  # two pages
            if all(d.status == "succeeded" for d in log):
                break
            assert time.monotonic() < deadline, log  # the outcome is recorded just after the answer
            time.sleep(0.05)
        assert len(log) == 3 and all(d.status == "succeeded" and d.attempts == 1 for d in log)
        assert log[0].response_status == 204 and log[0].attempt_log[0].latency_ms >= 0
        replayed = client.webhooks.replay(endpoint.id, log[-1].id)
        assert replayed.status == "pending" and replayed.id == log[-1].id
        again = receiver.wait_for(4)[3]
        assert endpoint.secret is not None
        event = Webhook(endpoint.secret).verify(again.body, again.headers)
        assert again.headers["webhook-id"] == log[-1].event_id and event["account_id"] == accounts[0]["id"]


def test_the_async_client(base_url: str, tenant: str) -> None:
    async def scenario() -> None:
        async with edm.AsyncClient(base_url, make_token(tenant, scope=ADMIN)) as client:
            created = await client.webhooks.create(url="https://93.184.215.14/x", events=["*"])
            assert created.secret
            ids = [e.id async for e in client.webhooks.list(limit=1)]
            assert ids == [created.id]
            updated = await client.webhooks.update(created.id, description="async")
            assert updated.description == "async" and (await client.webhooks.get(created.id)).description == "async"
            assert [d async for d in client.webhooks.deliveries(created.id)] == []
            with pytest.raises(edm.NotFoundError):
                await client.webhooks.replay(created.id, "wd_01JBX5T9Q3ZK8M2N4P6R7S9V0W")
            await client.webhooks.delete(created.id)
            with pytest.raises(edm.NotFoundError):
                await client.webhooks.get(created.id)

    run(scenario())
