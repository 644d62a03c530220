"""The webhook worker: ``edm worker``, or inside ``edm serve`` (on the embedded SQLite default).

Loops over the database, never in a request: fan-out (``fanout``) turns
change events into deliveries, and sending (``sending``) claims due deliveries
and POSTs them, up to ``CONCURRENCY`` at once; a recorder writes their
outcomes, as many as have finished, in one transaction.  Writers never wait on either:
the events are already committed when the worker reads them.  Several workers
may run against one database.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import Any

import httpx
import structlog

from edm.crm.webhooks import metrics
from edm.crm.webhooks.fanout import fan_out, outbox_lag
from edm.crm.webhooks.sending import TIMEOUT_SECONDS, Job, Sent, busy_endpoints, claim, record, send
from edm.kit.db import Database
from edm.kit.settings import Settings

__all__ = ["WebhookWorker"]

CONCURRENCY = 128
IDLE_SECONDS = 0.1  # how often an idle loop looks again (commit-to-delivery latency)
ERROR_SECONDS = 2.0
LAG_EVERY_SECONDS = 5.0
log = structlog.get_logger("edm.webhooks")


class WebhookWorker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # The worker reads every tenant's events and deliveries: on PostgreSQL as
        # the URL's own user (the tables' owner), not the app role.
        # Its pool is its own, so all of it, not one tenant's share (it works for every tenant).
        self.db = Database(replace(settings, db_tenant_share=settings.db_pool_size), as_owner=True)
        self._in_flight: dict[asyncio.Task[Any], str] = {}
        # Set when a send ends or new deliveries were fanned out: claim again now, not after IDLE_SECONDS.
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self._finished: list[Sent] = []  # sent, not yet recorded
        self._to_record = asyncio.Event()

    async def run(self) -> None:
        """Fan out and send until cancelled."""
        self._client = httpx.AsyncClient(
            timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False, limits=httpx.Limits(max_connections=CONCURRENCY)
        )
        try:
            await asyncio.gather(self._fan_out_forever(), self._send_forever(), self._record_forever(), self._watch_lag())
        finally:
            for task in list(self._in_flight):
                task.cancel()
            if self._finished:  # a clean stop records what it sent, rather than sending it again after the lease
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(record(self.db, self.settings, self._finished), ERROR_SECONDS)
            await self._client.aclose()
            await self.db.dispose()

    async def _fan_out_forever(self) -> None:
        while True:
            try:
                read = await fan_out(self.db)
            except Exception as exc:  # the database may be down, or not migrated yet
                log.warning("webhook fan-out failed; retrying", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(ERROR_SECONDS)
                continue
            if read:
                self._wake.set()
            else:
                await asyncio.sleep(IDLE_SECONDS)

    async def _send_forever(self) -> None:
        assert self._client is not None
        while True:
            free = CONCURRENCY - len(self._in_flight)
            claimed: list[Job] = []
            if free > 0:
                try:
                    claimed = await claim(self.db, busy_endpoints(self._in_flight.values()), free)
                except Exception as exc:
                    log.warning("claiming webhook deliveries failed; retrying", error=f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(ERROR_SECONDS)
                    continue
            for job in claimed:
                task = asyncio.create_task(self._send_one(job))
                self._in_flight[task] = job.delivery["endpoint_id"]
                task.add_done_callback(self._sent)
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_SECONDS)
                self._wake.clear()

    def _sent(self, task: asyncio.Task[Any]) -> None:
        self._in_flight.pop(task)
        self._wake.set()

    async def _send_one(self, job: Job) -> None:
        assert self._client is not None
        try:
            sent = await send(self._client, self.settings, job)
        except Exception as exc:  # its lease ends and it is claimed again
            log.warning("webhook delivery failed", delivery=job.delivery["id"], error=f"{type(exc).__name__}: {exc}")
            return
        self._finished.append(sent)
        self._to_record.set()

    async def _record_forever(self) -> None:
        """Write finished sends' outcomes: all that finished while the last write ran, in one transaction."""
        while True:
            await self._to_record.wait()
            self._to_record.clear()
            batch, self._finished = self._finished, []
            try:
                await record(self.db, self.settings, batch)
            except Exception as exc:  # their leases end and they are sent again (at least once)
                log.warning("recording webhook deliveries failed", count=len(batch), error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(ERROR_SECONDS)

    async def _watch_lag(self) -> None:
        while True:
            try:
                behind, age = await outbox_lag(self.db)
            except Exception:  # noqa: S110  (fan-out logs the database's troubles)
                pass
            else:
                metrics.OUTBOX_BEHIND.set(behind)
                metrics.OUTBOX_LAG.set(age)
            await asyncio.sleep(LAG_EVERY_SECONDS)
