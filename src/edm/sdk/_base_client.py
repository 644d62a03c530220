"""The HTTP core shared by ``Client`` and ``AsyncClient``: configuration,
request building, retries and error mapping.

A call reads as a pipeline: ``request → _send_with_retries → _send_once``;
the sync and async twins differ only in ``await``.

Retries: a request is retried up to ``max_retries`` times on 429, 502, 503,
504, timeouts and network errors (never on other 4xx), after an exponential,
jittered delay (0.5 s, 1 s, 2 s … capped at 8 s), or after exactly the
server's ``Retry-After`` when it names 0–60 seconds.  Creates and restores
carry one ``Idempotency-Key`` for all their attempts, so a retry can never
create twice.  Updates and deletes are retried too: pass ``if_version=`` when
a write that may already have landed must not apply twice.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast

import anyio
import httpx

from edm.sdk._types import NOT_GIVEN, NotGiven, Timeout
from edm.sdk.errors import APIConnectionError, APITimeoutError, EDMError, make_status_error

__all__ = [
    "RequestOptions",
    "BaseClient",
    "SyncAPIClient",
    "AsyncAPIClient",
    "DEFAULT_TIMEOUT",
    "DEFAULT_MAX_RETRIES",
    "RETRY_STATUSES",
    "to_json",
    "new_idempotency_key",
]

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
RETRY_STATUSES = frozenset({429, 502, 503, 504})
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0

# Failures after which the request may be sent again.  UnsupportedProtocol or
# LocalProtocolError are our own mistakes: retrying them cannot help.
_RETRYABLE_TRANSPORT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)


def _version() -> str:
    from edm import __version__

    return __version__


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"datetime {value.isoformat()} has no timezone; pass an aware datetime (e.g. tzinfo=timezone.utc)")
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "model_dump"):  # an SDK model, e.g. Address
        return value.model_dump(mode="json", exclude_unset=True)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot send {type(value).__name__} as JSON: {value!r}")


def to_json(body: Any) -> bytes:
    """A request body as JSON bytes (ASCII-escaped, so bad strings reach the server's validation)."""
    return json.dumps(body, default=_json_default, separators=(",", ":"), allow_nan=False).encode()


@dataclass
class RequestOptions:
    """Everything one API call needs, fixed before the first attempt."""

    method: str
    path: str
    params: list[tuple[str, str]] | None = None
    json_body: Any = NOT_GIVEN
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: Timeout | NotGiven = NOT_GIVEN
    idempotency_key: str | None = None


class BaseClient:
    """Configuration and the parts of a call that do no I/O."""

    base_url: str
    token: str
    timeout: Timeout
    max_retries: int

    def __init__(
        self,
        base_url: str | None,
        token: str | None,
        *,
        timeout: Timeout,
        max_retries: int,
        default_headers: Mapping[str, str] | None,
    ) -> None:
        base_url = base_url or os.environ.get("EDM_BASE_URL")
        token = token or os.environ.get("EDM_TOKEN")
        if not base_url:
            raise EDMError("no base URL: pass base_url= or set EDM_BASE_URL (e.g. http://127.0.0.1:8000)")
        if not token:
            raise EDMError("no token: pass token= or set EDM_TOKEN (`edm token --tenant T --sub S` prints one)")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = str(httpx.URL(base_url)).rstrip("/")
        self.token = token
        self.timeout = timeout
        self.max_retries = max_retries
        self._custom_headers = dict(default_headers or {})

    @property
    def default_headers(self) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "User-Agent": f"edm-python/{_version()}",
            "Authorization": f"Bearer {self.token}",
            **self._custom_headers,
        }

    def _build_request(self, http: httpx.Client | httpx.AsyncClient, options: RequestOptions) -> httpx.Request:
        headers = self.default_headers
        content = None
        if options.json_body is not NOT_GIVEN:
            content = to_json(options.json_body)
            headers["Content-Type"] = options.content_type
        if options.idempotency_key is not None:
            headers["Idempotency-Key"] = options.idempotency_key
        headers.update(options.headers)
        timeout = self.timeout if isinstance(options.timeout, NotGiven) else options.timeout
        return http.build_request(
            options.method,
            self.base_url + options.path,
            params=cast("list[tuple[str, str | int | float | bool | None]] | None", options.params),
            content=content,
            headers=headers,
            timeout=timeout,
        )

    def _retry_delay(self, retries_taken: int, response: httpx.Response | None) -> float:
        retry_after = _retry_after(response.headers) if response is not None else None
        if retry_after is not None and 0 <= retry_after <= MAX_RETRY_AFTER:
            return retry_after
        delay = min(INITIAL_RETRY_DELAY * 2.0**retries_taken, MAX_RETRY_DELAY)
        return delay * (1 - 0.25 * random.random())

    def _should_retry(self, response: httpx.Response, retries_taken: int) -> bool:
        return response.status_code in RETRY_STATUSES and retries_taken < self.max_retries


def _retry_after(headers: httpx.Headers) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date from now."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class SyncAPIClient(BaseClient):
    """``BaseClient`` sending through an ``httpx.Client``."""

    _client: httpx.Client

    def __init__(self, *args: Any, http_client: httpx.Client | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise TypeError(f"http_client must be an httpx.Client, not {type(http_client).__name__}")
        self._owns_client = http_client is None
        self._client = http_client or httpx.Client(timeout=self.timeout)

    def close(self) -> None:
        """Close the connection pool (a client you passed as ``http_client=`` stays open: it is yours)."""
        if self._owns_client:
            self._client.close()

    def request(self, options: RequestOptions) -> httpx.Response:
        """Send, retrying as the module docstring says; a 2xx/3xx response or an ``APIError``."""
        return self._send_with_retries(options)

    def _send_with_retries(self, options: RequestOptions) -> httpx.Response:
        retries_taken = 0
        while True:
            request = self._build_request(self._client, options)
            try:
                response = self._send_once(request)
            except _RETRYABLE_TRANSPORT_ERRORS as exc:
                if retries_taken < self.max_retries:
                    time.sleep(self._retry_delay(retries_taken, None))
                    retries_taken += 1
                    continue
                raise _connection_error(request, exc) from exc
            except httpx.TransportError as exc:
                raise _connection_error(request, exc) from exc
            if response.is_success or response.is_redirect or response.status_code == 304:
                return response
            if self._should_retry(response, retries_taken):
                time.sleep(self._retry_delay(retries_taken, response))
                retries_taken += 1
                continue
            raise make_status_error(response)

    def _send_once(self, request: httpx.Request) -> httpx.Response:
        return self._client.send(request)


class AsyncAPIClient(BaseClient):
    """``BaseClient`` sending through an ``httpx.AsyncClient``."""

    _client: httpx.AsyncClient

    def __init__(self, *args: Any, http_client: httpx.AsyncClient | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise TypeError(f"http_client must be an httpx.AsyncClient, not {type(http_client).__name__}")
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient(timeout=self.timeout)

    async def close(self) -> None:
        """Close the connection pool (a client you passed as ``http_client=`` stays open: it is yours)."""
        if self._owns_client:
            await self._client.aclose()

    async def request(self, options: RequestOptions) -> httpx.Response:
        """Send, retrying as the module docstring says; a 2xx/3xx response or an ``APIError``."""
        return await self._send_with_retries(options)

    async def _send_with_retries(self, options: RequestOptions) -> httpx.Response:
        retries_taken = 0
        while True:
            request = self._build_request(self._client, options)
            try:
                response = await self._send_once(request)
            except _RETRYABLE_TRANSPORT_ERRORS as exc:
                if retries_taken < self.max_retries:
                    await anyio.sleep(self._retry_delay(retries_taken, None))
                    retries_taken += 1
                    continue
                raise _connection_error(request, exc) from exc
            except httpx.TransportError as exc:
                raise _connection_error(request, exc) from exc
            if response.is_success or response.is_redirect or response.status_code == 304:
                return response
            if self._should_retry(response, retries_taken):
                await anyio.sleep(self._retry_delay(retries_taken, response))
                retries_taken += 1
                continue
            raise make_status_error(response)

    async def _send_once(self, request: httpx.Request) -> httpx.Response:
        return await self._client.send(request)


def _connection_error(request: httpx.Request, exc: httpx.TransportError) -> APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(request)
    return APIConnectionError(request, f"Connection error: {exc}" if str(exc) else "Connection error.")
