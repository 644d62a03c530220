"""Sending deliveries: claim the due ones, POST them signed, record the outcome, schedule retries.

A claim leases a delivery to this worker for ``LEASE_SECONDS`` (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL, so several workers never claim the same one); a
worker that dies mid-send leaves it to be claimed again when the lease ends
(at least once).  Each endpoint gets at most ``PER_ENDPOINT`` sends at a time
in a worker, and endpoints at their limit are left out of the claim, so a slow
or dead endpoint holds only its own deliveries back.

Work is batched: a claim loads the endpoints and events of every delivery it
leases in two statements, and the outcomes of many sends are written in one
transaction (``record``), so the database costs a few statements per batch,
not per delivery.
"""

from __future__ import annotations

import random
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from edm.crm.engine.events import record_events
from edm.crm.webhooks import metrics, ssrf
from edm.crm.webhooks.signing import signed_headers
from edm.crm.webhooks.tables import deliveries, endpoints
from edm.kit.db import Connection, Database, among, execute_many
from edm.kit.events import event_document
from edm.kit.settings import Settings
from edm.kit.types import UTCDateTime, iso_utc_millis

__all__ = ["claim", "send", "record", "Job", "Sent", "Outcome", "retry_delay", "TIMEOUT_SECONDS", "PER_ENDPOINT", "LEASE_SECONDS"]

TIMEOUT_SECONDS = 10.0
LEASE_SECONDS = 60.0
PER_ENDPOINT = 8
MAX_DELAY_SECONDS = 6 * 3600.0
EXCERPT_BYTES = 1024
KEEP_ATTEMPTS = 20  # the delivery log keeps the latest attempts of each delivery


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None  # the HTTP status, or None without an answer
    latency_ms: int
    excerpt: str | None
    error: str | None

    @property
    def label(self) -> str:
        if self.status is not None:
            return f"{self.status // 100}xx"
        return "timeout" if self.error and "timed out" in self.error else ("refused" if self.error and self.error.startswith("refused") else "error")


@dataclass(frozen=True)
class Job:
    """A leased delivery and what sending it needs."""

    delivery: Mapping[str, Any]
    endpoint: Mapping[str, Any] | None  # None: deleted since the delivery was fanned out
    event: Mapping[str, Any] | None  # None: gone (no event is ever deleted, but say so if it were)


@dataclass(frozen=True)
class Sent:
    job: Job
    outcome: Outcome
    at: datetime


# What a delivery's body needs of its event.
_EVENT_COLUMNS = tuple(record_events.c[name] for name in ("id", "type", "record_id", "version", "at", "by", "data"))


def retry_delay(failed_attempts: int, base: float) -> float:
    """Seconds before the next attempt after ``failed_attempts`` (1, 2 …): base·2ⁿ⁻¹, at most 6 h, ±25 %."""
    delay = min(base * 2.0 ** min(failed_attempts - 1, 60), MAX_DELAY_SECONDS)
    return delay * random.uniform(0.75, 1.25)


async def claim(db: Database, busy: Mapping[str, int], free: int) -> list[Job]:
    """Lease up to ``free`` due deliveries, at most ``PER_ENDPOINT`` per endpoint counting those in ``busy``."""
    now = datetime.now(UTC)
    full = [endpoint for endpoint, count in busy.items() if count >= PER_ENDPOINT]
    claimable = [
        deliveries.c.status == "pending",
        deliveries.c.next_attempt_at <= now,
        sa.or_(deliveries.c.leased_until.is_(None), deliveries.c.leased_until < now),
    ]
    dialect = db.dialect
    due = (
        sa.select(deliveries.c.tenant_id, deliveries.c.id, deliveries.c.endpoint_id)
        .join(endpoints, sa.and_(endpoints.c.tenant_id == deliveries.c.tenant_id, endpoints.c.id == deliveries.c.endpoint_id))
        .where(*claimable, endpoints.c.status == "enabled")
        .order_by(deliveries.c.next_attempt_at)
        .limit(200)
    )
    if full:
        due = due.where(sa.not_(among([deliveries.c.endpoint_id], full, "full", dialect)))
    async with db.read(None) as conn:
        candidates = (await conn.execute(due)).mappings().all()
        chosen: list[tuple[str, str]] = []
        taken = dict(busy)
        for row in candidates:
            if len(chosen) >= free:
                break
            if taken.get(row["endpoint_id"], 0) < PER_ENDPOINT:
                taken[row["endpoint_id"]] = taken.get(row["endpoint_id"], 0) + 1
                chosen.append((row["tenant_id"], row["id"]))
    if not chosen:
        return []
    async with db.write(None) as conn:
        key = [deliveries.c.tenant_id, deliveries.c.id]
        locked = sa.select(*key).where(among(key, chosen, "chosen", dialect), *claimable)
        if dialect == "postgresql":
            locked = locked.with_for_update(skip_locked=True)
        statement = (
            deliveries.update()
            .where(sa.tuple_(*key).in_(locked))
            .values(leased_until=now + timedelta(seconds=LEASE_SECONDS))
            .returning(*deliveries.c)
        )
        leased = list((await conn.execute(statement)).mappings().all())
        if not leased:
            return []
        endpoint_keys = sorted({(d["tenant_id"], d["endpoint_id"]) for d in leased})
        of_endpoints = among([endpoints.c.tenant_id, endpoints.c.id], endpoint_keys, "endpoints", dialect)
        found_endpoints: dict[tuple[str, str], Any] = {
            (row["tenant_id"], row["id"]): row for row in (await conn.execute(sa.select(endpoints).where(of_endpoints))).mappings()
        }
        of_events = among([record_events.c.id], sorted({d["event_id"] for d in leased}), "events", dialect)
        found_events: dict[str, Any] = {
            row["id"]: row for row in (await conn.execute(sa.select(*_EVENT_COLUMNS).where(of_events))).mappings()
        }
    return [Job(d, found_endpoints.get((d["tenant_id"], d["endpoint_id"])), found_events.get(d["event_id"])) for d in leased]


def event_body(event: Mapping[str, Any]) -> bytes:
    """The event as the change feed shows it: ``{"id","type","<noun>_id","version","at","by","data"}``."""
    return orjson.dumps(event_document(**{column.name: event[column.name] for column in _EVENT_COLUMNS}))


async def _post(client: httpx.AsyncClient, settings: Settings, url: str, headers: dict[str, str], body: bytes) -> Outcome:
    started = time.monotonic()

    def elapsed() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        target = await ssrf.resolve(url, allow_private=settings.webhooks_allow_private)
    except ssrf.UnsafeURL as exc:
        return Outcome(False, None, elapsed(), None, f"refused: the URL {exc}")
    # Connect to the address just checked (not a second lookup), naming the host for HTTP and TLS.
    request_url = httpx.URL(url).copy_with(host=target.address)
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    try:
        async with client.stream(
            "POST",
            request_url,
            content=body,
            headers={**headers, "host": host_header, "user-agent": "edm-webhooks/1"},
            extensions={"sni_hostname": target.host},
        ) as response:
            excerpt = b""
            async for chunk in response.aiter_raw():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
        text = excerpt[:EXCERPT_BYTES].decode("utf-8", "replace")
        return Outcome(200 <= response.status_code < 300, response.status_code, elapsed(), text, None)
    except httpx.TimeoutException:
        return Outcome(False, None, elapsed(), None, f"timed out after {TIMEOUT_SECONDS:g} s")
    except httpx.HTTPError as exc:
        return Outcome(False, None, elapsed(), None, f"{type(exc).__name__}: {exc}"[:EXCERPT_BYTES])


async def send(client: httpx.AsyncClient, settings: Settings, job: Job) -> Sent:
    """One attempt of ``job``'s delivery (``record`` writes the outcome to its log)."""
    event = job.event
    if job.endpoint is None:  # deleted meanwhile: its deliveries went with it
        outcome = Outcome(False, None, 0, None, "the endpoint was deleted")
    elif event is None:
        outcome = Outcome(False, None, 0, None, f"the event {job.delivery['event_id']} no longer exists")
    else:
        body = event_body(event)
        headers = signed_headers(job.endpoint["secret"], event["id"], int(time.time()), body)
        outcome = await _post(client, settings, job.endpoint["url"], headers, body)
    metrics.ATTEMPTS.labels(outcome.label).inc()
    metrics.LATENCY.observe(outcome.latency_ms / 1000)
    if not outcome.ok:
        metrics.FAILURES.labels(outcome.label).inc()
    return Sent(job, outcome, datetime.now(UTC))


_RECORDED = (
    "attempts", "last_attempt_at", "response_status", "latency_ms", "response_excerpt", "error", "leased_until",
    "attempt_log", "status", "next_attempt_at",
)  # fmt: skip
_RECORD = (
    deliveries.update()
    .where(deliveries.c.tenant_id == sa.bindparam("k_tenant_id"), deliveries.c.id == sa.bindparam("k_id"))
    .values({name: sa.bindparam(name, type_=deliveries.c[name].type) for name in _RECORDED})
)


def _recorded(settings: Settings, sent: Sent) -> dict[str, Any]:
    """The delivery row's new values after ``sent``'s attempt."""
    delivery, outcome, now = sent.job.delivery, sent.outcome, sent.at
    attempts = delivery["attempts"] + 1
    entry = {
        "at": iso_utc_millis(now),
        "response_status": outcome.status,
        "latency_ms": outcome.latency_ms,
        "error": outcome.error,
    }
    values: dict[str, Any] = {
        "k_tenant_id": delivery["tenant_id"],
        "k_id": delivery["id"],
        "attempts": attempts,
        "last_attempt_at": now,
        "response_status": outcome.status,
        "latency_ms": outcome.latency_ms,
        "response_excerpt": outcome.excerpt,
        "error": outcome.error,
        "leased_until": None,
        "attempt_log": [*delivery["attempt_log"], entry][-KEEP_ATTEMPTS:],
    }
    window = timedelta(seconds=settings.webhooks_retry_for_s)
    if outcome.ok:
        values.update(status="succeeded", next_attempt_at=None)
    elif now - delivery["created_at"] >= window:
        values.update(status="failed", next_attempt_at=None)
    else:
        delay = retry_delay(attempts, settings.webhooks_retry_base_s)
        values.update(status="pending", next_attempt_at=now + timedelta(seconds=delay))
    return values


async def record(db: Database, settings: Settings, batch: Sequence[Sent]) -> None:
    """Write the outcomes of ``batch`` to the delivery log, and each endpoint's health, in one transaction."""
    if not batch:
        return
    latest: dict[tuple[str, str], Sent] = {}
    for sent in batch:
        if sent.job.endpoint is not None:
            latest[(sent.job.endpoint["tenant_id"], sent.job.endpoint["id"])] = sent
    async with db.write(None) as conn:
        await execute_many(conn, "webhooks.record", [_recorded(settings, sent) for sent in batch], lambda: _RECORD)
        for sent in latest.values():  # an endpoint's health follows its latest outcome
            await _endpoint_health(conn, settings, sent)


async def _endpoint_health(conn: Connection, settings: Settings, sent: Sent) -> None:
    """Clear ``failing_since`` after a success; after a failure set it, and disable the endpoint once it is old enough."""
    endpoint, outcome, now = sent.job.endpoint, sent.outcome, sent.at
    assert endpoint is not None
    key = [endpoints.c.tenant_id == endpoint["tenant_id"], endpoints.c.id == endpoint["id"]]
    if outcome.ok:
        if endpoint["failing_since"] is not None:
            await conn.execute(endpoints.update().where(*key).values(failing_since=None))
        return
    failing_since = (
        await conn.execute(
            endpoints.update()
            .where(*key)
            .values(failing_since=sa.func.coalesce(endpoints.c.failing_since, sa.literal(now, UTCDateTime())))
            .returning(endpoints.c.failing_since, endpoints.c.status)
        )
    ).first()
    if failing_since is None or failing_since[1] != "enabled":
        return
    since = failing_since[0]
    if isinstance(since, str):
        since = datetime.fromisoformat(since.replace("Z", "+00:00"))
    window = timedelta(seconds=settings.webhooks_retry_for_s)
    if now - since >= window:
        last = f"HTTP {outcome.status}" if outcome.status is not None else outcome.error
        reason = f"every delivery failed since {iso_utc_millis(since)} ({_duration(window)}); the last: {last}"
        await conn.execute(endpoints.update().where(*key).values(status="disabled", disabled_reason=reason, disabled_at=now))
        metrics.DISABLED.inc()


def _duration(window: timedelta) -> str:
    seconds = window.total_seconds()
    if seconds >= 86_400:
        return f"{seconds / 86_400:g} days"
    return f"{seconds:g} s"


def busy_endpoints(in_flight: Collection[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for endpoint in in_flight:
        counts[endpoint] = counts.get(endpoint, 0) + 1
    return counts
