"""Verifying a webhook delivery from EDM (Standard Webhooks signatures).

    import edm

    payload = edm.webhooks.verify(request_body, request_headers, "whsec_…")  # the event, as a dict

``verify`` checks the ``webhook-signature`` (HMAC-SHA256 of
``{webhook-id}.{webhook-timestamp}.{body}`` keyed with the secret) against the
raw body, and that ``webhook-timestamp`` is within five minutes of now, then
returns the parsed event; anything else raises ``WebhookVerificationError``.
Deduplicate on ``webhook-id`` (the event's ``id``): a delivery may come more
than once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["verify", "WebhookVerificationError", "TOLERANCE_SECONDS"]

TOLERANCE_SECONDS = 300


class WebhookVerificationError(Exception):
    """The delivery is not signed with this secret, or is too old or too new."""


def verify(
    payload: bytes | str, headers: Mapping[str, str], secret: str, *, tolerance_seconds: int = TOLERANCE_SECONDS
) -> Any:
    body = payload.encode() if isinstance(payload, str) else payload
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        message_id, timestamp, signatures = (
            lowered["webhook-id"], lowered["webhook-timestamp"], lowered["webhook-signature"]
        )  # fmt: skip
    except KeyError as exc:
        raise WebhookVerificationError(f"missing header {exc.args[0]}") from None
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number") from None
    if abs(time.time() - sent_at) > tolerance_seconds:
        raise WebhookVerificationError("webhook-timestamp is too far from now")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        raise WebhookVerificationError("the secret is not a whsec_ secret") from None
    expected = hmac.new(key, f"{message_id}.{sent_at}.".encode() + body, hashlib.sha256).digest()
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        try:
            decoded = base64.b64decode(value)
        except binascii.Error:
            continue
        if version == "v1" and hmac.compare_digest(decoded, expected):
            return json.loads(body)
    raise WebhookVerificationError("no signature matches")
