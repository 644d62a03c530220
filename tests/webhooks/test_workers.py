"""The worker as operators run it: ``edm worker`` processes next to the server, several at once on PostgreSQL;
the delivery-time address check; the metrics."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from edm.crm.webhooks import ssrf
from edm.crm.webhooks.signing import new_secret
from edm.crm.webhooks.tables import endpoints
from edm.kit.ids import new_id
from edm.kit.settings import Settings
from tests.conftest import SECRET, Started, base_settings, make_token
from tests.processes import EDM, clean_env, free_port
from tests.webhooks.harness import ADMIN, WEBHOOKS, Receiver, fresh_database, write_event


def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:12]}"


def admin(t: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(t, scope=ADMIN)}"}


@contextmanager
def server(database_url: str, data_dir: Path, **overrides: object) -> Iterator[httpx.Client]:
    settings: Settings = replace(base_settings(database_url, data_dir), jwt_secret=SECRET, **overrides)  # type: ignore[arg-type]
    started = Started()
    try:
        with httpx.Client(base_url=started(settings), timeout=30) as http:
            yield http
    finally:
        started.stop()


@contextmanager
def edm_worker(database_url: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    env = clean_env(EDM_DATABASE_URL=database_url, EDM_WEBHOOKS_ALLOW_PRIVATE="true", EDM_WEBHOOKS_RETRY_BASE_S="0.2")
    process = subprocess.Popen([EDM, "worker", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
        assert process.returncode in (0, -15, 130), output[-3000:]


@pytest.mark.postgres
def test_two_edm_worker_processes_deliver_every_event_once(tmp_path: Path) -> None:
    """Two ``edm worker`` processes race for the same deliveries (``FOR UPDATE SKIP LOCKED``) and the same
    events to fan out (the position row's lock): each event reaches each endpoint exactly once."""
    from tests.conftest import require_postgres

    require_postgres()
    t = tenant()
    receivers = [Receiver(delay=0.02) for _ in range(3)]
    with ExitStack() as stack, fresh_database("postgresql", tmp_path) as database_url:
        # the server does not deliver (PostgreSQL's default): the workers do
        http = stack.enter_context(server(database_url, tmp_path, webhooks_allow_private=True))
        urls = [stack.enter_context(receiver.serving()) for receiver in receivers]
        for url in urls:
            assert http.post(WEBHOOKS, json={"url": url, "events": ["*"]}, headers=admin(t)).status_code == 201
        written = [write_event(http, t)["id"] for _ in range(40)]
        # both start on the same backlog: the same events to fan out, then the same deliveries due at once
        metrics_port = free_port()
        workers = [stack.enter_context(edm_worker(database_url, "--metrics-port", str(metrics_port)))]
        workers.append(stack.enter_context(edm_worker(database_url)))
        for receiver in receivers:
            receiver.wait_for(len(written), timeout=60)
        time.sleep(2)  # a duplicate would arrive by now
        assert all(worker.poll() is None for worker in workers)
        metrics = _samples(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text)  # the worker's own
        assert metrics['edm_webhook_delivery_attempts_total{status="2xx"}'] >= 1
    for receiver in receivers:
        ids = Counter(r.headers["webhook-id"] for r in receiver.received)
        assert len(ids) == len(written) and set(ids.values()) == {1}, ids.most_common(3)


def test_a_name_that_now_resolves_to_a_private_address_is_refused_at_delivery(tmp_path: Path) -> None:
    """DNS rebinding: a host name that was public when subscribed resolves to loopback when delivering.

    The endpoint row is written as the API would have written it while the name was public (the API itself
    refuses the name today, which is the other half); the name is this machine's own host name, which the
    system resolver (no mock, no seam) maps to a loopback or private address. The worker, with private
    addresses not allowed, must resolve again, refuse, and log why, instead of calling the address."""
    host = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)}
    except socket.gaierror:
        pytest.skip(f"this machine's host name {host!r} does not resolve")
    if any(ssrf.refusal(ipaddress.ip_address(a.split("%")[0])) is None for a in addresses):
        pytest.skip(f"{host} resolves to a public address here: {addresses}")
    t = tenant()
    with fresh_database("sqlite", tmp_path) as database_url:
        url = f"https://{host}:{ssrf_port()}/hook"
        endpoint_id = new_id("we")
        engine = sa.create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(
                endpoints.insert().values(
                    tenant_id=t, id=endpoint_id, app_id=None, url=url, events=["*"], description=None,
                    secret=new_secret(), status="enabled", disabled_reason=None, disabled_at=None,
                    failing_since=None, created_at=datetime.now(UTC), created_by="user-1",
                )
            )  # fmt: skip
        engine.dispose()
        with server(database_url, tmp_path, webhooks_in_process=True, webhooks_retry_base_s=0.2) as http:
            refused_now = http.post(WEBHOOKS, json={"url": url, "events": ["*"]}, headers=admin(t))
            assert refused_now.status_code == 422 and "resolves to" in refused_now.text
            write_event(http, t)
            deadline = time.monotonic() + 15
            while not (log := http.get(f"{WEBHOOKS}/{endpoint_id}/deliveries", headers=admin(t)).json()["data"]) or (
                log[0]["attempts"] == 0
            ):
                assert time.monotonic() < deadline, log
                time.sleep(0.1)
    (delivery,) = log
    assert delivery["status"] == "pending" and delivery["response_status"] is None
    assert delivery["error"].startswith(f"refused: the URL must be on a public address: {host} resolves to")


def ssrf_port() -> int:
    """A port nothing listens on: were the address called, the error would be a connection error."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_delivery_metrics_appear_on_metrics(tmp_path: Path) -> None:
    t, receiver = tenant(), Receiver(status=lambda n: 500 if n == 0 else 204)
    with fresh_database("sqlite", tmp_path) as database_url, receiver.serving() as url:
        with server(
            database_url, tmp_path, webhooks_allow_private=True, webhooks_in_process=True, webhooks_retry_base_s=0.2
        ) as http:
            before = _samples(http.get("/metrics").text)
            assert http.post(WEBHOOKS, json={"url": url, "events": ["*"]}, headers=admin(t)).status_code == 201
            write_event(http, t)
            receiver.wait_for(2)
            deadline = time.monotonic() + 15
            while True:
                after = _samples(http.get("/metrics").text)
                grew = {name: after.get(name, 0) - before.get(name, 0) for name in after}
                if grew.get('edm_webhook_delivery_attempts_total{status="2xx"}', 0) >= 1:
                    break
                assert time.monotonic() < deadline, grew
                time.sleep(0.2)
    assert grew['edm_webhook_delivery_attempts_total{status="5xx"}'] >= 1
    assert grew['edm_webhook_delivery_failures_total{status="5xx"}'] >= 1
    assert grew["edm_webhook_delivery_duration_seconds_count"] >= 2
    assert "edm_webhooks_outbox_lag_seconds" in after and "edm_webhooks_outbox_events_behind" in after


def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


@pytest.mark.postgres
def test_two_workers_claiming_at_the_same_moment_never_take_the_same_delivery(tmp_path: Path) -> None:
    """The race itself, made certain: two workers' claims (each its own connection pool, as two processes
    have) read the same due deliveries, then both try to lease them; ``SKIP LOCKED`` plus the re-check
    under the lock gives each delivery to one of them."""
    from tests.conftest import require_postgres

    require_postgres()
    t = tenant()
    with ExitStack() as stack, fresh_database("postgresql", tmp_path) as database_url:
        http = stack.enter_context(server(database_url, tmp_path, webhooks_allow_private=True))
        for n in range(3):
            url = f"http://127.0.0.1:9/{n}"  # never called: nothing sends here
            assert http.post(WEBHOOKS, json={"url": url, "events": ["*"]}, headers=admin(t)).status_code == 201
        for _ in range(10):
            write_event(http, t)
        settings = Settings(database_url=database_url, jwt_secret=SECRET)
        claimed = asyncio.run(_claim_in_pairs(settings, events=10))
    taken = [delivery for pair in claimed for claim in pair for delivery in claim]
    # 10 events × 3 endpoints, each leased once (without SKIP LOCKED and the re-check: 48 leases of 30)
    assert len(taken) == 30 and len(set(taken)) == 30


async def _claim_in_pairs(settings: Settings, events: int) -> list[tuple[list[str], list[str]]]:
    from edm.crm.webhooks.fanout import fan_out
    from edm.crm.webhooks.sending import claim
    from edm.kit.db import Database

    one, two = Database(settings, as_owner=True), Database(settings, as_owner=True)
    try:
        read, deadline = 0, time.monotonic() + 15
        while read < events:  # every event, once the transactions before it have all ended
            assert time.monotonic() < deadline, f"{read} of {events} events fanned out"
            read += await fan_out(one)
            await asyncio.sleep(0.05)
        rounds = []
        while True:
            first, second = await asyncio.gather(claim(one, {}, 100), claim(two, {}, 100))
            if not first and not second:
                return rounds
            rounds.append(([job.delivery["id"] for job in first], [job.delivery["id"] for job in second]))
    finally:
        await one.dispose()
        await two.dispose()
