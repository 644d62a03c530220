"""Opaque, signed page cursors.

A cursor is ``base64url(payload) "." base64url(HMAC-SHA256(key, payload)[:16])``.
The payload carries the last row's sort values and a fingerprint of the
query (tenant, app, sort, filters); a cursor that was altered, forged with
another key, or minted for another query is refused with a 400.
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


class CursorSigner:
    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"edm.cursor\x00" + key).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]

    def encode(self, fingerprint: str, values: list[Any]) -> str:
        payload = orjson.dumps({"f": fingerprint, "v": values})
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, cursor: str, fingerprint: str) -> list[Any]:
        body, _, mac = cursor.partition(".")
        if len(cursor) > _MAX_CURSOR_LENGTH or not body or not mac:
            raise _invalid("is not a cursor this service issued")
        try:
            payload, signature = _unb64(body), _unb64(mac)
        except (binascii.Error, ValueError):
            raise _invalid("is not a cursor this service issued") from None
        if not hmac.compare_digest(signature, self._mac(payload)):
            raise _invalid("is not a cursor this service issued")
        decoded = orjson.loads(payload)
        if decoded.get("f") != fingerprint:
            raise _invalid("belongs to a different query (sort, filters, q or caller changed)")
        return list(decoded["v"])
