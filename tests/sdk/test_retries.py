"""Retries, idempotency keys, transport errors, timeouts and ``http_client=`` injection.

Failures come from real transports: ``FlakyTransport`` wraps
``httpx.HTTPTransport`` and either answers the first attempts itself (503 +
``Retry-After``, as a proxy in trouble would) or forwards them and then drops
the server's response (the server did the work, the client never heard).
Connection errors use a closed port, timeouts a socket that never answers.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import edm
from tests.conftest import base_settings, make_token
from tests.sdk.conftest import run

MISSING = "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"


def _problem(status: int) -> httpx.Response:
    body = {"type": "urn:edm:problem:x", "title": "x", "status": status, "detail": "injected", "code": "injected", "request_id": None, "errors": []}
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


class FlakyTransport(httpx.BaseTransport):
    """The real HTTP transport, except that the first ``failures`` attempts fail.

    ``lose_response=False``: those attempts are answered here with ``status``
    and ``Retry-After`` and never reach the server.  ``lose_response=True``:
    they reach the server, whose response is then dropped (a ``ReadError``).
    """

    def __init__(self, failures: int, *, status: int = 503, retry_after: str | None = "0", lose_response: bool = False) -> None:
        self.inner = httpx.HTTPTransport()
        self.failures, self.status, self.retry_after, self.lose_response = failures, status, retry_after, lose_response
        self.requests: list[httpx.Request] = []
        self.responses: list[httpx.Response] = []  # what the server answered

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        failing = len(self.requests) <= self.failures
        if failing and not self.lose_response:
            response = _problem(self.status)
            if self.retry_after is not None:
                response.headers["Retry-After"] = self.retry_after
            return response
        response = self.inner.handle_request(request)
        response.read()
        self.responses.append(response)
        if failing:
            raise httpx.ReadError("connection reset after the server answered", request=request)
        return response

    def close(self) -> None:
        self.inner.close()

    def keys(self) -> list[str]:
        return [r.headers.get("Idempotency-Key") for r in self.requests]


class AsyncFlakyTransport(httpx.AsyncBaseTransport):
    """The async twin of ``FlakyTransport``."""

    def __init__(self, failures: int, *, status: int = 503, retry_after: str | None = "0", lose_response: bool = False) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.failures, self.status, self.retry_after, self.lose_response = failures, status, retry_after, lose_response
        self.requests: list[httpx.Request] = []
        self.responses: list[httpx.Response] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        failing = len(self.requests) <= self.failures
        if failing and not self.lose_response:
            response = _problem(self.status)
            if self.retry_after is not None:
                response.headers["Retry-After"] = self.retry_after
            return response
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.responses.append(response)
        if failing:
            raise httpx.ReadError("connection reset after the server answered", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def keys(self) -> list[str]:
        return [r.headers.get("Idempotency-Key") for r in self.requests]


def flaky_client(base_url: str, token: str, transport: FlakyTransport, **kw: object) -> edm.Client:
    return edm.Client(base_url, token, http_client=httpx.Client(transport=transport), **kw)  # type: ignore[arg-type]


def assert_one_uuid4(keys: list[str]) -> None:
    assert len(set(keys)) == 1, keys
    assert uuid.UUID(keys[0]).version == 4


@pytest.fixture
def sqlite_url(servers: dict[str, str]) -> str:
    """For tests whose failures never reach the database."""
    return servers["sqlite"]


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


# --------------------------------------------------------------------------- idempotent retries


def test_retried_create_reuses_one_idempotency_key_and_creates_once(base_url: str, token: str) -> None:
    transport = FlakyTransport(2, status=503, retry_after="0")
    with flaky_client(base_url, token, transport) as client:
        account = client.customer.accounts.create(name="Retried")
        assert len(transport.requests) == 3
        assert_one_uuid4(transport.keys())
        page = client.customer.accounts.list(include_total=True)
    assert page.total == 1 and [a.id for a in page.data] == [account.id]


def test_create_whose_response_was_lost_is_replayed_not_duplicated(base_url: str, token: str) -> None:
    transport = FlakyTransport(1, lose_response=True)
    with flaky_client(base_url, token, transport) as client:
        account = client.customer.accounts.create(name="Lost once", tags=["t"])
        assert [r.status_code for r in transport.responses] == [201, 201]  # both reached the server
        assert "idempotent-replayed" not in transport.responses[0].headers
        assert transport.responses[1].headers["idempotent-replayed"] == "true"
        assert_one_uuid4(transport.keys())
        assert account.id == transport.responses[0].json()["id"]
        assert client.customer.accounts.list(include_total=True).total == 1


def test_restore_whose_response_was_lost_is_replayed(base_url: str, token: str) -> None:
    with edm.Client(base_url, token) as plain:
        account = plain.customer.accounts.create(name="Phoenix")
        plain.customer.accounts.delete(account.id)
    transport = FlakyTransport(1, lose_response=True)
    with flaky_client(base_url, token, transport) as client:
        restored = client.customer.accounts.restore(account.id)  # a plain second try would be a 409
        assert restored.version == 3 and restored.is_deleted is False
        assert_one_uuid4(transport.keys())
        assert transport.responses[1].headers["idempotent-replayed"] == "true"


def test_caller_given_idempotency_key(base_url: str, token: str) -> None:
    key = f"order-{uuid.uuid4()}"
    with edm.Client(base_url, token) as client:
        first = client.customer.accounts.create(name="Once", idempotency_key=key)
        again = client.customer.accounts.create(name="Once", idempotency_key=key)
        assert again == first
        with pytest.raises(edm.UnprocessableEntityError) as caught:
            client.customer.accounts.create(name="Different body", idempotency_key=key)
        assert caught.value.code == "idempotency_conflict"
        assert client.customer.accounts.list(include_total=True).total == 1
        second = client.customer.accounts.create(name="Once")  # no key given: a fresh one
        assert second.id != first.id


def test_async_retried_create_reuses_one_key_and_creates_once(base_url: str, token: str) -> None:
    async def main() -> None:
        unavailable = AsyncFlakyTransport(2, status=503)
        lost = AsyncFlakyTransport(1, lose_response=True)
        async with httpx.AsyncClient(transport=unavailable) as http1, httpx.AsyncClient(transport=lost) as http2:
            async with edm.AsyncClient(base_url, token, http_client=http1) as client:
                first = await client.customer.accounts.create(name="Async retried")
            async with edm.AsyncClient(base_url, token, http_client=http2) as client:
                second = await client.customer.accounts.create(name="Async lost")
                page = await client.customer.accounts.list(include_total=True)
        assert len(unavailable.requests) == 3
        assert [r.method for r in lost.requests] == ["POST", "POST", "GET"]
        assert lost.responses[1].headers["idempotent-replayed"] == "true"
        assert_one_uuid4(unavailable.keys())
        assert_one_uuid4(lost.keys()[:2])
        assert page.total == 2 and {a.id for a in page.data} == {first.id, second.id}

    run(main())


# --------------------------------------------------------------------------- what is retried, and how long to wait


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, edm.RateLimitError), (502, edm.InternalServerError), (503, edm.InternalServerError), (504, edm.InternalServerError)],
)
def test_retryable_statuses_are_retried_then_raised(sqlite_url: str, status: int, error: type[edm.APIStatusError]) -> None:
    transport = FlakyTransport(10, status=status)
    with flaky_client(sqlite_url, make_token("t"), transport, max_retries=2) as client:
        with pytest.raises(error) as caught:
            client.customer.accounts.get(MISSING)
    assert len(transport.requests) == 3
    assert caught.value.status_code == status and caught.value.code == "injected"


def test_a_500_and_other_4xx_are_never_retried(base_url: str, token: str) -> None:
    transport = FlakyTransport(1, status=500)
    with flaky_client(base_url, token, transport) as client:
        with pytest.raises(edm.InternalServerError):
            client.customer.accounts.get(MISSING)
        assert len(transport.requests) == 1
        with pytest.raises(edm.NotFoundError):
            client.customer.accounts.get(MISSING)
        with pytest.raises(edm.UnprocessableEntityError):
            client.customer.accounts.create(name="")
        with pytest.raises(edm.BadRequestError):
            client.customer.accounts.list(limit=0)
        assert len(transport.requests) == 4


def test_max_retries_zero_sends_once(sqlite_url: str, token: str) -> None:
    transport = FlakyTransport(2, status=503)
    with flaky_client(sqlite_url, token, transport, max_retries=0) as client:
        with pytest.raises(edm.InternalServerError):
            client.customer.accounts.list()
        assert len(transport.requests) == 1
        assert client.with_options(max_retries=1).customer.accounts.list().data == []  # the second attempt passes
        assert len(transport.requests) == 3


def test_retry_after_is_honoured(base_url: str, token: str) -> None:
    transport = FlakyTransport(1, status=429, retry_after="0.6")
    with flaky_client(base_url, token, transport) as client:
        started = time.monotonic()
        assert client.customer.accounts.list().data == []
        assert time.monotonic() - started >= 0.6
    assert len(transport.requests) == 2


def test_the_servers_own_429_is_retried_after_its_retry_after(
    serve: Any, database_urls: dict[str, str], tmp_path: Path
) -> None:
    """Not an injected 429: a server whose rate limit (one request, one more a second) is spent."""
    url = serve(base_settings(database_urls["sqlite"], tmp_path, rate_limit_per_s=1, rate_limit_burst=1))
    answers: list[httpx.Response] = []
    with httpx.Client(event_hooks={"response": [answers.append]}) as http:
        client = edm.Client(url, make_token(f"tenant-{uuid.uuid4().hex[:12]}"), http_client=http)
        client.customer.accounts.list()  # spends the burst
        started = time.monotonic()
        assert client.customer.accounts.list().data == []
        waited = time.monotonic() - started
    assert [a.status_code for a in answers] == [200, 429, 200]
    assert answers[1].headers["retry-after"] == "1" and waited >= 1.0


def test_connection_refused_is_api_connection_error_after_retries(closed_port_url: str) -> None:
    attempts: list[httpx.Request] = []
    with httpx.Client(event_hooks={"request": [attempts.append]}) as http:
        client = edm.Client(closed_port_url, "token", http_client=http, max_retries=2)
        with pytest.raises(edm.APIConnectionError) as caught:
            client.customer.accounts.create(name="Nobody home")
    assert not isinstance(caught.value, edm.APITimeoutError)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert len(attempts) == 3
    assert_one_uuid4([r.headers["Idempotency-Key"] for r in attempts])


def test_async_connection_refused(closed_port_url: str) -> None:
    async def main() -> int:
        attempts: list[httpx.Request] = []

        async def hook(request: httpx.Request) -> None:
            attempts.append(request)

        async with httpx.AsyncClient(event_hooks={"request": [hook]}) as http:
            client = edm.AsyncClient(closed_port_url, "token", http_client=http, max_retries=1)
            with pytest.raises(edm.APIConnectionError):
                await client.customer.accounts.get(MISSING)
        return len(attempts)

    assert run(main()) == 2


def test_timeouts_are_api_timeout_errors(silent_url: str) -> None:
    with edm.Client(silent_url, "token", timeout=0.2, max_retries=1) as client:
        started = time.monotonic()
        with pytest.raises(edm.APITimeoutError):
            client.customer.accounts.list()
        assert time.monotonic() - started >= 0.4  # two attempts
    with edm.Client(silent_url, "token", max_retries=0) as client:  # the per-call timeout wins
        started = time.monotonic()
        with pytest.raises(edm.APITimeoutError):
            client.customer.accounts.get(MISSING, timeout=0.2)
        assert time.monotonic() - started < 5


def test_async_timeout(silent_url: str) -> None:
    async def main() -> None:
        async with edm.AsyncClient(silent_url, "token", max_retries=0) as client:
            with pytest.raises(edm.APITimeoutError) as caught:
                await client.customer.accounts.list(timeout=0.2)
            assert isinstance(caught.value, edm.APIConnectionError)

    run(main())


# --------------------------------------------------------------------------- http_client= and configuration


def test_injected_http_client_and_default_headers(base_url: str, token: str) -> None:
    seen: list[httpx.Request] = []
    http = httpx.Client(event_hooks={"request": [seen.append]}, headers={"X-From-Http-Client": "1"})
    with edm.Client(base_url, token, http_client=http, default_headers={"X-Team": "crm"}) as client:
        account = client.customer.accounts.create(name="Injected")
        client.customer.accounts.update(account.id, industry="Tools", if_version=1)
    request, patch = seen
    assert request.headers["Authorization"] == f"Bearer {token}"
    assert request.headers["User-Agent"] == f"edm-python/{edm.__version__}"
    assert request.headers["X-Team"] == "crm" and request.headers["X-From-Http-Client"] == "1"
    assert request.headers["Content-Type"] == "application/json"
    assert patch.headers["Content-Type"] == "application/merge-patch+json"
    assert patch.headers["If-Match"] == '"1"' and "Idempotency-Key" not in patch.headers
    assert not http.is_closed  # the caller's client stays the caller's
    http.close()

    owned = edm.Client(base_url, token)
    owned.close()
    assert owned._client.is_closed

    with pytest.raises(TypeError):
        edm.Client(base_url, token, http_client=httpx.AsyncClient())  # type: ignore[arg-type]


def test_async_injected_http_client(base_url: str, token: str) -> None:
    async def main() -> None:
        seen: list[str] = []

        async def hook(request: httpx.Request) -> None:
            seen.append(request.headers["X-Team"])

        async with httpx.AsyncClient(event_hooks={"request": [hook]}) as http:
            async with edm.AsyncClient(base_url, token, http_client=http, default_headers={"X-Team": "crm"}) as client:
                await client.customer.accounts.create(name="Async injected")
            assert not http.is_closed
        assert seen == ["crm"]

    run(main())


def test_configuration_from_environment(base_url: str, token: str, closed_port_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDM_BASE_URL", base_url + "/")
    monkeypatch.setenv("EDM_TOKEN", token)
    with edm.Client() as client:
        account = client.customer.accounts.create(name="From env")
        assert client.base_url == base_url
    monkeypatch.setenv("EDM_BASE_URL", closed_port_url)
    with edm.Client(base_url) as client:  # an argument beats the environment
        assert client.customer.accounts.get(account.id).name == "From env"

    async def main() -> str:
        async with edm.AsyncClient(base_url) as client:
            return (await client.customer.accounts.get(account.id)).name

    assert run(main()) == "From env"

    monkeypatch.delenv("EDM_BASE_URL")
    with pytest.raises(edm.EDMError, match="EDM_BASE_URL"):
        edm.Client()
    monkeypatch.setenv("EDM_BASE_URL", base_url)
    monkeypatch.delenv("EDM_TOKEN")
    with pytest.raises(edm.EDMError, match="EDM_TOKEN"):
        edm.AsyncClient()
