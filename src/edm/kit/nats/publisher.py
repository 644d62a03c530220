"""Publishes every change event to NATS JetStream, at least once, in commit order per tenant.

The loop: read a batch of events after the saved position (``feed``),
publish them, save the position past the last event of the longest acked
prefix, repeat.  The position moves only after JetStream acked, so a crash or
an outage repeats events rather than losing them; each message carries its
event id as ``Nats-Msg-Id``, so JetStream drops a repeat that arrives within
the stream's duplicate window.  Within a batch each tenant's events are sent
one after another, each once the previous one was acked (a rejected message
can never be overtaken by a later one of its tenant); tenants go in parallel.

Nothing here is on the write path: with NATS down, writes go on and the
events wait in the database; the publisher retries with backoff (1 s doubling
to 30 s) and ``lag_seconds`` grows (docs/nats.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from edm.kit.nats.feed import Event, EventFeed, Position, utcnow
from edm.kit.nats.subjects import event_subject
from edm.kit.settings import Settings

__all__ = ["NatsPublisher", "Progress", "DUPLICATE_WINDOW_S"]

log = logging.getLogger("edm.nats")

# How long JetStream remembers a message id (for a stream this creates): a
# publisher that restarts within it republishes without duplicates.
DUPLICATE_WINDOW_S = 10 * 60
BATCH = 500
PUBLISH_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2
IDLE_POLL_S = 0.2
BACKOFF_FIRST_S, BACKOFF_MAX_S = 1.0, 30.0
_STREAM_EXISTS = 10058  # JetStream's "stream name already in use"


@dataclass
class Progress:
    """What one round did, for the metrics."""

    published: int = 0  # events acked (repeats included)
    duplicates: int = 0  # of those, the ones JetStream already had
    lag_seconds: float = 0.0  # age of the oldest event still to publish; 0 when caught up
    error: str | None = None


class NatsPublisher:
    """``start()`` runs it as a task, ``stop()`` ends it; ``run_once()`` is one round (tests, bench)."""

    def __init__(
        self,
        settings: Settings,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        batch: int = BATCH,
        backoff_first_s: float = BACKOFF_FIRST_S,
    ) -> None:
        if not settings.nats_url:
            raise ValueError("EDM_NATS_URL is not set")
        self.servers = [url.strip() for url in settings.nats_url.split(",")]
        self.stream = settings.nats_stream
        self.prefix = settings.nats_subject_prefix
        self.feed = EventFeed(settings.resolved_database_url)
        self.batch = batch
        self.backoff_first_s = backoff_first_s
        self._on_progress = on_progress or (lambda progress: None)
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._position: Position | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name="edm-nats-publisher")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._disconnect()
        await self.feed.close()

    async def run(self) -> None:
        """Publish until cancelled; every failure (NATS, the database) is retried with backoff."""
        delay = self.backoff_first_s
        while True:
            try:
                progress = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._on_progress(Progress(lag_seconds=await self._lag_or_zero(), error=type(exc).__name__))
                log.warning("nats publishing failed, retrying in %.1f s: %s: %s", delay, type(exc).__name__, exc)
                await self._disconnect()
                self._position = None  # read it again: the database may have been the failure
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            delay = self.backoff_first_s
            if progress.published == 0:
                await asyncio.sleep(IDLE_POLL_S)

    # ------------------------------------------------------------------ one round

    async def run_once(self) -> Progress:
        """Publish the next batch; raise when it could not all be published (the acked part is saved)."""
        js = await self._jetstream()
        if self._position is None:
            self._position = await self.feed.load(self.stream)
        events = await self.feed.after(self._position, self.batch)
        if not events:
            progress = Progress()
            self._on_progress(progress)
            return progress
        acks: dict[str, bool] = {}  # event id -> duplicate
        failures: list[BaseException] = []
        chains: dict[str, list[Event]] = {}
        for event in events:
            chains.setdefault(event.tenant_id, []).append(event)
        await asyncio.gather(*(self._publish_chain(js, chain, acks, failures) for chain in chains.values()))
        done = 0
        while done < len(events) and events[done].id in acks:
            done += 1
        if done:
            self._position = events[done - 1].position
            await self.feed.save(self.stream, self._position)
        lag = events[done].age_seconds(utcnow()) if done < len(events) else 0.0
        progress = Progress(published=done, duplicates=sum(acks[e.id] for e in events[:done]), lag_seconds=lag)
        self._on_progress(progress)
        if failures:
            raise failures[0]
        return progress

    async def _publish_chain(
        self, js: JetStreamContext, chain: list[Event], acks: dict[str, bool], failures: list[BaseException]
    ) -> None:
        """One tenant's events in order, each after the previous one's ack; stops at the first failure."""
        for event in chain:
            try:
                ack = await js.publish(
                    event_subject(self.prefix, event.tenant_id, event.resource, event.type),
                    event.payload,
                    timeout=PUBLISH_TIMEOUT_S,
                    stream=self.stream,  # refused unless our stream stores it
                    headers={"Nats-Msg-Id": event.id},
                )
            except Exception as exc:
                failures.append(exc)
                return
            acks[event.id] = bool(ack.duplicate)

    async def _lag_or_zero(self) -> float:
        with contextlib.suppress(Exception):
            events = await self.feed.after(self._position or await self.feed.load(self.stream), 1)
            return events[0].age_seconds(utcnow()) if events else 0.0
        return 0.0

    # ------------------------------------------------------------------ NATS

    async def _jetstream(self) -> JetStreamContext:
        if self._js is not None and self._nc is not None and self._nc.is_connected:
            return self._js
        await self._disconnect()
        # Reconnecting is this loop's job (it knows what to republish), not the client's.
        self._nc = await nats.connect(
            self.servers,
            connect_timeout=CONNECT_TIMEOUT_S,
            allow_reconnect=False,
            # nats-py reads 0 as "forever": 1 tries each server twice, then raises NoServersError.
            max_reconnect_attempts=1,
            reconnect_time_wait=0.2,
            error_cb=_quiet,
            name="edm-publisher",
        )
        self._js = self._nc.jetstream()
        await self._ensure_stream(self._js)
        return self._js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            await js.stream_info(self.stream)
            return
        except nats.js.errors.NotFoundError:
            pass
        config = StreamConfig(
            name=self.stream,
            subjects=[f"{self.prefix}.>"],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_S,
        )
        try:
            await js.add_stream(config)
            log.info("created JetStream stream %s for %s.>", self.stream, self.prefix)
        except nats.js.errors.BadRequestError as exc:
            if exc.err_code != _STREAM_EXISTS:  # another publisher made it meanwhile: fine
                raise

    async def _disconnect(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await nc.close()


async def _quiet(exc: Any) -> None:
    """The client's own error callback: the loop above logs what matters, once per failure."""
    log.debug("nats client: %s", exc)
