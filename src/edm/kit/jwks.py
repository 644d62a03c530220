"""Public signing keys by ``kid``, from a JWKS file or URL, kept fresh.

* The source is re-read every ``refresh_seconds`` by :meth:`KeySet.keep_fresh`
  (a background task for the app's life), so a key removed from it stops
  verifying within that interval plus the read's timeout (5 s, or the interval
  when shorter), whether or not anyone presents an unknown ``kid``.
* An unknown ``kid`` re-reads it at once: a file when it changed on disk, a URL
  at most once per ``min_refresh_seconds``.  Misses queue on one lock, so a
  burst shares one read.  Requests with a known ``kid`` never wait for a read.
* A read that fails (unreachable, timed out, not a JWKS, unreadable) keeps the
  last good set and logs a warning.  A set that could not be confirmed for
  ``max_stale_seconds`` is dropped (logged as an error): its tokens are refused
  (401) until a read succeeds, so an unreachable source cannot keep a retired
  key trusted forever.  Before the first good read, tokens answer 503.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import httpx
import jwt
import structlog

from edm.kit.errors import ServiceUnavailable

__all__ = ["KeySet"]

FETCH_TIMEOUT_SECONDS = 5.0
MAX_DOCUMENT_BYTES = 1 << 20

log = structlog.get_logger("edm.auth")


class KeySetReadError(Exception):
    """The source could not be read as a JWKS."""


def parse_jwks(raw: bytes) -> tuple[dict[str | None, jwt.PyJWK], str]:
    """The usable keys by kid, and a fingerprint of them that changes when they do."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise KeySetReadError("not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeySetReadError('not a JWKS (no "keys" array)')
    keys: dict[str | None, jwt.PyJWK] = {}
    usable: list[Any] = []
    for entry in document["keys"]:
        try:
            keys[entry.get("kid")] = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, AttributeError):
            continue  # skip keys we cannot use, keep the rest
        usable.append(entry)
    return keys, json.dumps(usable, sort_keys=True)


class KeySet:
    def __init__(
        self,
        *,
        url: str | None,
        file: str | None,
        min_refresh_seconds: float,
        refresh_seconds: float = 30.0,
        max_stale_seconds: float = 3600.0,
    ) -> None:
        self._url = url
        self._file = file
        self._min_refresh = min_refresh_seconds
        self._refresh = refresh_seconds
        self._max_stale = max_stale_seconds
        self._timeout = min(FETCH_TIMEOUT_SECONDS, refresh_seconds)
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fingerprint: str | None = None
        self._loaded_once = False
        self._confirmed_at = float("-inf")  # the last good read
        self._last_read = float("-inf")  # the last read, good or not
        self._file_signature: tuple[int, int, int] | None = None
        self._lock = asyncio.Lock()
        self.generation = 0  # rises whenever the keys change; cached verifications of older ones are void

    async def get(self, kid: str | None) -> jwt.PyJWK | None:
        key = self._lookup(kid)
        if key is None:
            async with self._lock:
                key = self._lookup(kid)
                if key is None and self._may_read_for_unknown_kid():
                    await self._read()
                    key = self._lookup(kid)
        if key is None and not self._loaded_once:
            raise ServiceUnavailable("the signing key set could not be loaded", headers={"Retry-After": "5"})
        return key

    async def keep_fresh(self) -> None:
        """Re-read the source every ``refresh_seconds``, for ever (cancel the task to stop)."""
        while True:
            try:
                async with self._lock:
                    if time.monotonic() - self._last_read >= self._refresh:
                        await self._read()
            except Exception:  # a bug here must not end the refreshing
                log.exception("the signing key set refresh failed unexpectedly", source=self._source)
                self._last_read = time.monotonic()
            await asyncio.sleep(max(0.0, self._last_read + self._refresh - time.monotonic()))

    @property
    def _source(self) -> str:
        return self._file or self._url or ""

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:  # a kid-less token is fine only when there is one key
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _may_read_for_unknown_kid(self) -> bool:
        if self._file:
            try:
                return self._signature(os.stat(self._file)) != self._file_signature
            except OSError:
                return False
        return time.monotonic() - self._last_read >= self._min_refresh

    @staticmethod
    def _signature(stat: os.stat_result) -> tuple[int, int, int]:
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    async def _read(self) -> None:
        try:
            raw = await asyncio.wait_for(self._read_source(), self._timeout)
            keys, fingerprint = parse_jwks(raw)
        except (OSError, ValueError, httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, KeySetReadError) as exc:
            self._read_failed(exc)
            return
        finally:
            self._last_read = time.monotonic()
        if fingerprint != self._fingerprint:
            self._keys, self._fingerprint = keys, fingerprint
            self.generation += 1
        self._loaded_once = True
        self._confirmed_at = time.monotonic()

    async def _read_source(self) -> bytes:
        # in a thread: a file on a hung network mount must not stall the event loop
        raw = await asyncio.to_thread(self._read_file) if self._file else await self._fetch()
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise KeySetReadError(f"larger than {MAX_DOCUMENT_BYTES} bytes")
        return raw

    def _read_file(self) -> bytes:
        assert self._file is not None
        with open(self._file, "rb") as fh:
            self._file_signature = self._signature(os.fstat(fh.fileno()))
            return fh.read(MAX_DOCUMENT_BYTES + 1)

    async def _fetch(self) -> bytes:
        assert self._url is not None
        body = bytearray()
        async with httpx.AsyncClient(timeout=self._timeout) as client, client.stream("GET", self._url) as response:
            response.raise_for_status()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    break
        return bytes(body)

    def _read_failed(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        stale = time.monotonic() - self._confirmed_at
        if self._fingerprint is None:
            log.warning("cannot load the signing key set", source=self._source, reason=reason)
        elif stale <= self._max_stale:
            log.warning(
                "cannot refresh the signing key set; keeping the last one",
                source=self._source,
                reason=reason,
                stale_seconds=round(stale),
            )
        else:
            self._keys, self._fingerprint = {}, None
            self.generation += 1
            log.error(
                "dropped the signing key set: it could not be refreshed for too long",
                source=self._source,
                reason=reason,
                stale_seconds=round(stale),
            )
