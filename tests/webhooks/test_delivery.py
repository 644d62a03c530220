"""Webhook delivery end to end: a real server with its worker, a real receiver on 127.0.0.1, both databases."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from standardwebhooks import Webhook

import edm
from edm.kit.settings import Settings
from tests.conftest import SECRET, Started, base_settings, make_token
from tests.webhooks.harness import ADMIN, WEBHOOKS, Receiver, fresh_database, write_event

RETRY_FOR_S = 3.0


class Hooks:
    def __init__(self, url: str, database_url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)
        self.database_url = database_url

    def admin(self, tenant: str, **token: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(tenant, scope=ADMIN, **token)}"}  # type: ignore[arg-type]

    def subscribe(self, tenant: str, url: str, events: list[str] | None = None, **token: object) -> dict[str, object]:
        response = self.http.post(
            WEBHOOKS, json={"url": url, "events": events or ["*"]}, headers=self.admin(tenant, **token)
        )
        assert response.status_code == 201, response.text
        return response.json()

    def deliveries(self, tenant: str, endpoint_id: str) -> list[dict[str, object]]:
        response = self.http.get(f"{WEBHOOKS}/{endpoint_id}/deliveries", headers=self.admin(tenant))
        assert response.status_code == 200, response.text
        return response.json()["data"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hooks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hooks]:
    if request.param == "postgresql":
        from tests.conftest import require_postgres

        require_postgres()
    data_dir = tmp_path_factory.mktemp("hooks")
    with fresh_database(request.param, data_dir) as database_url:
        settings: Settings = base_settings(database_url, data_dir)
        settings = replace(
            settings,
            jwt_secret=SECRET,
            webhooks_allow_private=True,
            webhooks_in_process=True,
            webhooks_retry_base_s=0.2,
            webhooks_retry_for_s=RETRY_FOR_S,
        )
        started = Started()
        try:
            yield Hooks(started(settings), database_url)
        finally:
            started.stop()


def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:12]}"


def test_an_event_is_delivered_signed_as_standard_webhooks_says(hooks: Hooks) -> None:
    t, receiver = tenant(), Receiver()
    with receiver.serving() as url:
        endpoint = hooks.subscribe(t, url)
        account = write_event(hooks.http, t)
        (received,) = receiver.wait_for(1)
    payload = Webhook(str(endpoint["secret"])).verify(received.body, received.headers)
    assert payload == {
        "id": received.headers["webhook-id"],
        "type": "account.created",
        "account_id": account["id"],
        "version": 1,
        "at": account["updated_at"],
        "by": "user-1",
        "data": account,
    }
    assert payload["id"].startswith("evt_")
    assert edm.webhooks.verify(received.body, received.headers, str(endpoint["secret"])) == payload
    with pytest.raises(edm.webhooks.WebhookVerificationError):
        edm.webhooks.verify(received.body + b" ", received.headers, str(endpoint["secret"]))
    with pytest.raises(Exception):  # noqa: B017  (another secret does not verify)
        Webhook("whsec_" + "QUJD" * 8).verify(received.body, received.headers)


def test_only_the_subscribed_types_of_the_own_tenant_arrive(hooks: Hooks) -> None:
    mine, other, receiver = tenant(), tenant(), Receiver()
    with receiver.serving() as url:
        hooks.subscribe(mine, url, ["account.deleted"])
        write_event(hooks.http, other, "deleted")
        write_event(hooks.http, mine, "created")
        wanted = write_event(hooks.http, mine, "deleted")
        receiver.wait_for(1)
        time.sleep(1)
    assert len(receiver.received) == 1
    body = json.loads(receiver.received[0].body)
    assert (body["type"], body["account_id"]) == ("account.deleted", wanted["id"])


def test_a_500_is_retried_with_the_same_webhook_id_and_logged(hooks: Hooks) -> None:
    t, receiver = tenant(), Receiver(status=lambda n: 500 if n < 2 else 200)
    with receiver.serving() as url:
        endpoint = hooks.subscribe(t, url)
        write_event(hooks.http, t)
        received = receiver.wait_for(3)
        event = {"id": received[0].headers["webhook-id"]}
        assert {r.headers["webhook-id"] for r in received} == {event["id"]}
        deadline = time.monotonic() + 10
        while (log := hooks.deliveries(t, str(endpoint["id"])))[0]["status"] != "succeeded":
            assert time.monotonic() < deadline, log
            time.sleep(0.1)
        (delivery,) = log
        assert delivery["attempts"] == 3 and delivery["event_id"] == event["id"]
        assert [a["response_status"] for a in delivery["attempt_log"]] == [500, 500, 200]  # type: ignore[union-attr]
        assert delivery["response_excerpt"] == "ok" and isinstance(delivery["latency_ms"], int)

        replay = f"{WEBHOOKS}/{endpoint['id']}/deliveries/{delivery['id']}/replay"
        replayed = hooks.http.post(replay, headers=hooks.admin(t))
        assert replayed.status_code == 202, replayed.text
        assert receiver.wait_for(4)[3].headers["webhook-id"] == event["id"]
        assert hooks.http.post(replay, headers=hooks.admin(tenant())).status_code == 404


def test_an_endpoint_failing_for_the_whole_window_is_disabled_and_says_why(hooks: Hooks) -> None:
    t, failing = tenant(), [True]
    receiver = Receiver(status=lambda n: 503 if failing[0] else 200)
    with receiver.serving() as url:
        endpoint = hooks.subscribe(t, url)
        item = f"{WEBHOOKS}/{endpoint['id']}"
        write_event(hooks.http, t)
        deadline = time.monotonic() + RETRY_FOR_S + 15
        while True:
            shown = hooks.http.get(item, headers=hooks.admin(t)).json()
            if shown["status"] == "disabled":
                break
            assert time.monotonic() < deadline, shown
            time.sleep(0.2)
        assert "every delivery failed since" in shown["disabled_reason"] and "HTTP 503" in shown["disabled_reason"]
        assert "secret" not in shown

        # the delivery was given up as failed after the retry window: no next attempt, every attempt logged
        (delivery,) = hooks.deliveries(t, str(endpoint["id"]))
        assert delivery["status"] == "failed" and delivery["next_attempt_at"] is None
        assert delivery["attempts"] == len(receiver.received) >= 2 and delivery["response_status"] == 503
        attempts = len(receiver.received)
        time.sleep(1)
        assert len(receiver.received) == attempts  # nothing more is sent

        # fixed and re-enabled (PATCH), the failed delivery can be replayed: 409 while disabled
        replay = f"{item}/deliveries/{delivery['id']}/replay"
        assert hooks.http.post(replay, headers=hooks.admin(t)).status_code == 409
        failing[0] = False
        enabled = hooks.http.patch(item, json={"enabled": True}, headers=hooks.admin(t))
        assert enabled.status_code == 200 and enabled.json()["status"] == "enabled", enabled.text
        assert hooks.http.post(replay, headers=hooks.admin(t)).status_code == 202
        write_event(hooks.http, t)
        received = receiver.wait_for(attempts + 2)
        assert received[attempts].headers["webhook-id"] == delivery["event_id"] or (
            received[attempts + 1].headers["webhook-id"] == delivery["event_id"]
        )


def test_a_slow_endpoint_delays_neither_writes_nor_another_tenants_deliveries(hooks: Hooks) -> None:
    slow_tenant, fast_tenant = tenant(), tenant()
    slow, fast = Receiver(delay=20), Receiver()
    with slow.serving() as slow_url, fast.serving() as fast_url:
        hooks.subscribe(slow_tenant, slow_url)
        hooks.subscribe(fast_tenant, fast_url)
        for _ in range(3):
            write_event(hooks.http, slow_tenant)
        slow.wait_for(1)  # the slow endpoint now holds its sends
        started = time.monotonic()
        create = hooks.http.post(
            "/api/v1/crm/accounts", json={"name": "Fast"}, headers={"Authorization": f"Bearer {make_token(fast_tenant)}"}
        )
        assert create.status_code == 201 and time.monotonic() - started < 2
        write_event(hooks.http, fast_tenant)
        fast.wait_for(1, timeout=5)
        assert time.monotonic() - started < 5
