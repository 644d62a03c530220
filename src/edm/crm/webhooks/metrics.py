"""What operators watch of webhooks (served at ``/metrics`` with the service's own)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["OUTBOX_LAG", "OUTBOX_BEHIND", "ATTEMPTS", "FAILURES", "LATENCY", "DISABLED"]

OUTBOX_LAG = Gauge(
    "edm_webhooks_outbox_lag_seconds",
    "Age of the oldest change event not yet fanned out to webhook deliveries (0: none waiting).",
    multiprocess_mode="max",
)
OUTBOX_BEHIND = Gauge(
    "edm_webhooks_outbox_events_behind",
    "Change events not yet fanned out to webhook deliveries (counted up to 10000).",
    multiprocess_mode="max",
)
ATTEMPTS = Counter("edm_webhook_delivery_attempts_total", "Webhook delivery attempts, by outcome.", ["status"])
FAILURES = Counter(
    "edm_webhook_delivery_failures_total",
    "Failed webhook delivery attempts, by outcome (an HTTP status class, timeout, error or refused).",
    ["status"],
)
LATENCY = Histogram(
    "edm_webhook_delivery_duration_seconds",
    "Time from sending a webhook delivery to its answer.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DISABLED = Counter("edm_webhook_endpoints_disabled_total", "Webhook endpoints disabled for failing too long.")
