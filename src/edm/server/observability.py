"""Metrics (Prometheus) and structured JSON logs.

* ``edm_http_requests_total{route,method,status}`` and
  ``edm_http_request_duration_seconds{route,method}``: the route is the
  template (``/api/v1/crm/accounts/{account_id}``), never the raw path, so
  label sets stay bounded.
* ``edm_db_pool_connections{state}``: connections checked out and idle.
* ``edm_rate_limited_total{policy}``: requests refused with 429, by policy
  (``tenant``, ``app``, ``address``); ``edm_rate_limit_fallbacks_total``:
  requests decided in process because Redis did not answer.
* ``edm_nats_publish_lag_seconds``: age of the oldest change event not yet
  acked by NATS JetStream (0 when caught up; grows during a NATS outage);
  ``edm_nats_published_total`` and ``edm_nats_publish_failures_total{error}``
  (docs/nats.md).
* With several worker processes (``edm serve --workers N``) the workers share
  ``PROMETHEUS_MULTIPROC_DIR`` (set by the CLI), so any worker's ``/metrics``
  answers for all of them.
* One JSON log line per request (at ``info``): request_id, tenant_id, method,
  route, status, duration_ms — never a token, a query string or a body.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

import orjson
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from edm.kit.db import Database
from edm.kit.nats.publisher import Progress

__all__ = [
    "configure_logging",
    "observe_request",
    "metrics",
    "watch_pool",
    "log",
    "count_rate_limited",
    "count_rate_limit_fallback",
    "observe_nats_progress",
]

_MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

REQUESTS = Counter("edm_http_requests_total", "HTTP requests answered.", ["route", "method", "status"])
LATENCY = Histogram(
    "edm_http_request_duration_seconds",
    "Time from request to response.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
POOL = Gauge(
    "edm_db_pool_connections",
    "Database connections of this service, by state.",
    ["state"],
    multiprocess_mode="livesum" if _MULTIPROCESS else "all",
)
RATE_LIMITED = Counter("edm_rate_limited_total", "Requests refused with 429 by the rate limit.", ["policy"])
RATE_LIMIT_FALLBACKS = Counter(
    "edm_rate_limit_fallbacks_total", "Requests rate-limited in process because Redis did not answer."
)

NATS_LAG = Gauge(
    "edm_nats_publish_lag_seconds",
    "Age of the oldest change event not yet published to NATS JetStream (0: caught up).",
    multiprocess_mode="max" if _MULTIPROCESS else "all",
)
NATS_PUBLISHED = Counter("edm_nats_published_total", "Change events acked by NATS JetStream (repeats included).")
NATS_FAILURES = Counter(
    "edm_nats_publish_failures_total", "Rounds of NATS publishing that failed and were retried, by error.", ["error"]
)

log = structlog.get_logger("edm")


def configure_logging(level: str) -> None:
    """JSON lines on stderr, for the service's own logs and the standard library's."""
    numeric = logging.getLevelName(level.upper())
    numeric = numeric if isinstance(numeric, int) else logging.INFO
    global _log_requests
    _log_requests = numeric <= logging.INFO
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=lambda obj, **_: orjson.dumps(obj, default=str).decode()),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The metric children of each (route, method, status): labels() takes a lock
# and builds a key on every call, which showed in the request profile.
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_log_requests = True


def observe_request(scope: dict[str, Any], status: int, seconds: float) -> None:
    route = scope.get("route")
    template = getattr(route, "path", None) or "unmatched"
    method = scope.get("method", "")
    if method not in _METHODS:
        method = "other"  # label values stay a closed set
    children = _children.get((template, method, status))
    if children is None:
        children = (REQUESTS.labels(template, method, str(status)), LATENCY.labels(template, method))
        _children[(template, method, status)] = children
    children[0].inc()
    children[1].observe(seconds)
    if not _log_requests:
        return
    state = scope.get("state", {})
    log.info(
        "request",
        request_id=state.get("request_id"),
        tenant_id=state.get("tenant_id"),
        method=method,
        route=template,
        status=status,
        duration_ms=round(seconds * 1000, 2),
    )


def count_rate_limited(policy: str) -> None:
    RATE_LIMITED.labels(policy).inc()


def count_rate_limit_fallback() -> None:
    RATE_LIMIT_FALLBACKS.inc()


def observe_nats_progress(progress: Progress) -> None:
    """The NATS publisher's report after each round (``edm.kit.nats.NatsPublisher``)."""
    NATS_LAG.set(progress.lag_seconds)
    if progress.published:
        NATS_PUBLISHED.inc(progress.published)
    if progress.error:
        NATS_FAILURES.labels(progress.error).inc()


async def watch_pool(db: Database, every_seconds: float = 1.0) -> None:
    """Keep the pool gauge in step with the pool, off the request path."""
    while True:
        checked_out, idle = db.pool_counts()
        POOL.labels("checked_out").set(checked_out)
        POOL.labels("idle").set(idle)
        await asyncio.sleep(every_seconds)


async def metrics(request: Request, caller: None) -> Response:
    if _MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
