"""Opaque, signed page cursors.

A cursor is ``base64url(payload) "." base64url(HMAC-SHA256(key, payload)[:16])``.
The payload carries the last row's sort values and a fingerprint of the
query (tenant, app, sort, filters); a cursor that was altered, forged with
another key, or minted for another query is refused with a 400.

Several keys may be active: cursors are signed with the first and accepted
when any of them signed, so the cursor secret rotates without voiding the
cursors clients hold.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import orjson

from edm.kit.errors import FieldError, InvalidParameter

__all__ = ["CursorSigner"]

_MAX_CURSOR_LENGTH = 4096


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _invalid(message: str) -> InvalidParameter:
    return InvalidParameter(f"cursor: {message}", errors=[FieldError("cursor", message)])


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:16]


class CursorSigner:
    def __init__(self, key: bytes, *older_keys: bytes) -> None:
        """Sign with ``key``; accept cursors signed with it or any of ``older_keys``."""
        self._keys = [hashlib.sha256(b"edm.cursor\x00" + k).digest() for k in (key, *older_keys)]

    def _signed_by_us(self, payload: bytes, signature: bytes) -> bool:
        return any(hmac.compare_digest(signature, _mac(key, payload)) for key in self._keys)

    def encode(self, fingerprint: str, values: list[Any]) -> str:
        payload = orjson.dumps({"f": fingerprint, "v": values})
        return f"{_b64(payload)}.{_b64(_mac(self._keys[0], payload))}"

    def decode(self, cursor: str, fingerprint: str) -> list[Any]:
        body, _, mac = cursor.partition(".")
        if len(cursor) > _MAX_CURSOR_LENGTH or not body or not mac:
            raise _invalid("is not a cursor this service issued")
        try:
            payload, signature = _unb64(body), _unb64(mac)
        except (binascii.Error, ValueError):
            raise _invalid("is not a cursor this service issued") from None
        if not self._signed_by_us(payload, signature):
            raise _invalid("is not a cursor this service issued")
        decoded = orjson.loads(payload)
        if decoded.get("f") != fingerprint:
            raise _invalid("belongs to a different query (sort, filters, q or caller changed)")
        return list(decoded["v"])
