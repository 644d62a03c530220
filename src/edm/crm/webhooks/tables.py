"""The webhook tables (migration 2026-11-28-1200); the worker reads the change events from ``edm.crm.engine.events``."""

from __future__ import annotations

import sqlalchemy as sa

from edm.kit.types import JSONDocument, UTCDateTime

__all__ = ["endpoints", "deliveries", "position"]

webhook_metadata = sa.MetaData()

endpoints = sa.Table(
    "webhook_endpoints",
    webhook_metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("app_id", sa.Text),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", JSONDocument, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # enabled | disabled
    sa.Column("disabled_reason", sa.Text),
    sa.Column("disabled_at", UTCDateTime),
    sa.Column("failing_since", UTCDateTime),  # the first failure since the last success
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
)

deliveries = sa.Table(
    "webhook_deliveries",
    webhook_metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("endpoint_id", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # pending | succeeded | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime),  # null once it succeeded or was given up
    sa.Column("leased_until", UTCDateTime),  # a worker is sending it until then
    sa.Column("last_attempt_at", UTCDateTime),
    sa.Column("response_status", sa.Integer),
    sa.Column("latency_ms", sa.Integer),
    sa.Column("response_excerpt", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("attempt_log", JSONDocument, nullable=False),
)

position = sa.Table(
    "webhook_position",
    webhook_metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("txid", sa.Text, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
)
