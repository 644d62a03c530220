"""The webhook models (hand-written, like ``resources/webhooks.py``; the generator writes only record types).

Like every SDK model, they keep keys a newer server sends (``model_extra``).
"""

from __future__ import annotations

from typing import Optional

from edm.sdk._models import BaseRecord, UTCDateTime

__all__ = ["WebhookEndpoint", "WebhookDelivery", "WebhookAttempt", "WebhookEventType"]

# An event type is `<noun>.<op>` (``account.created``…), or "*" for every event.
WebhookEventType = str


class WebhookEndpoint(BaseRecord):
    """A URL subscribed to change events. ``secret`` is set only on the answer of ``create``."""

    id: str
    object: str = "webhook_endpoint"
    url: str
    events: list[WebhookEventType]
    description: Optional[str] = None
    status: str  # "enabled" or "disabled"
    disabled_reason: Optional[str] = None
    disabled_at: Optional[UTCDateTime] = None
    app_id: Optional[str] = None
    created_at: UTCDateTime
    created_by: str
    secret: Optional[str] = None


class WebhookAttempt(BaseRecord):
    """One attempt of a delivery."""

    at: UTCDateTime
    response_status: Optional[int] = None
    latency_ms: int
    error: Optional[str] = None


class WebhookDelivery(BaseRecord):
    """One event for one endpoint: its status (``pending``, ``succeeded``, ``failed``) and its attempts."""

    id: str
    object: str = "webhook_delivery"
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    created_at: UTCDateTime
    last_attempt_at: Optional[UTCDateTime] = None
    next_attempt_at: Optional[UTCDateTime] = None
    response_status: Optional[int] = None
    latency_ms: Optional[int] = None
    response_excerpt: Optional[str] = None
    error: Optional[str] = None
    attempt_log: list[WebhookAttempt] = []
