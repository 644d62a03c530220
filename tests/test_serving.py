"""How the service is served: bounded request heads and a graceful stop.

The head limit is checked on the tests' in-process server, which takes the
same uvicorn configuration as ``edm serve``, and on a real ``edm serve``
process where its memory is measured.  The graceful stop is checked on real
``edm serve`` processes, on SQLite and PostgreSQL, with one and two workers,
and its grace period on the in-process server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

import edm
from edm.server.app import create_app
from tests.conftest import (
    ACCOUNTS,
    SECRET,
    ServerThread,
    assert_problem,
    base_settings,
    make_token,
)
from tests.processes import free_port

MIB = 1024 * 1024
HEAD_LIMIT = 64 * 1024
SOURCE = str(
    Path(edm.__file__).resolve().parents[1]
)  # the subprocess runs the source under test


# --------------------------------------------------------------------------- raw HTTP


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One client TCP connection, speaking HTTP/1.1 by hand."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def answer(self) -> Answer:
        while b"\r\n\r\n" not in self._buffer:
            assert self._fill(), (
                f"the connection closed before an answer: {self._buffer!r}"
            )
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.lower(): value.strip()
            for name, value in (line.split(":", 1) for line in lines)
        }
        length = int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            assert self._fill(), "the connection closed inside a body"
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return Answer(int(status_line.split()[1]), headers, body)

    def closed_by_server(self) -> bool:
        try:
            return not self._fill()
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def request_head(method: str, path: str, *headers: str) -> bytes:
    return "\r\n".join(
        [f"{method} {path} HTTP/1.1", "Host: edm.test", *headers, "", ""]
    ).encode()


# --------------------------------------------------------------------------- edm serve


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def rss_bytes(self) -> int:
        """The resident memory of the serving process (the only worker)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


@contextlib.contextmanager
def edm_serve(workdir: Path, database_url: str, workers: int = 1) -> Iterator[Served]:
    """``edm serve`` in a subprocess running this source, ready when it yields."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDM_")}
    env.update(
        EDM_DATA_DIR=str(workdir / ".edm"),
        EDM_DATABASE_URL=database_url,
        EDM_JWT_SECRET=SECRET,
        EDM_LOG_LEVEL="warning",
        PYTHONPATH=os.pathsep.join([SOURCE, env.get("PYTHONPATH", "")]),
    )
    log = workdir / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edm.cli",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    served = Served(process, port, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(served.url + "/readyz").status_code == 200:
                    break
            assert process.poll() is None, served.output()
            assert time.monotonic() < deadline, (
                "edm serve did not become ready:\n" + served.output()
            )
            time.sleep(0.1)
        yield served
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --------------------------------------------------------------------------- request heads


@pytest.fixture
def server_port(servers: dict[str, str]) -> int:
    return int(servers["sqlite"].rsplit(":", 1)[1])


def test_a_1_mib_header_is_431_problem_at_once(servers: dict[str, str]) -> None:
    began = time.monotonic()
    response = httpx.get(
        servers["sqlite"] + "/healthz", headers={"X-Padding": "a" * MIB}, timeout=10
    )
    assert time.monotonic() - began < 1.5
    body = assert_problem(response, 431, "request_header_fields_too_large")
    assert str(HEAD_LIMIT) in body["detail"]
    assert response.headers["connection"] == "close"


def test_only_a_head_over_64_kib_is_refused(server_port: int) -> None:
    head = request_head("GET", "/healthz", "X-Padding: ")
    at_the_limit = head[:-4] + b"a" * (HEAD_LIMIT - len(head)) + b"\r\n\r\n"
    assert len(at_the_limit) == HEAD_LIMIT
    connection = Connection(server_port)
    try:
        connection.send(at_the_limit)
        assert connection.answer().status == 200
        # On a keep-alive connection each head counts on its own.
        for _ in range(4):
            connection.send(
                request_head("GET", "/healthz", "X-Padding: " + "a" * 40_000)
            )
            assert connection.answer().status == 200
        # Two requests in one write (pipelining).
        connection.send(request_head("GET", "/healthz") * 2)
        assert [connection.answer().status, connection.answer().status] == [200, 200]
        # A small head and a 1 MiB body in one write: the body is not part of the head.
        body = b'{"name":"Acme","description":"' + b"x" * (MIB - 32) + b'"}'
        assert len(body) == MIB
        token = make_token("tenant-heads")
        head = request_head(
            "POST",
            ACCOUNTS,
            f"Authorization: Bearer {token}",
            "Content-Type: application/json",
            f"Content-Length: {MIB}",
        )
        connection.send(head + body)
        answer = connection.answer()
        assert (
            answer.status == 422
            and orjson.loads(answer.body)["errors"][0]["field"] == "description"
        )
        # One byte more than the limit.
        connection.send(at_the_limit[:-4] + b"a\r\n\r\n")
        answer = connection.answer()
        assert (
            answer.status == 431
            and answer.headers["content-type"] == "application/problem+json"
        )
        assert connection.closed_by_server()
    finally:
        connection.close()


@pytest.mark.slow
def test_an_unfinished_huge_head_is_cut_off_without_growing_the_worker(
    tmp_path: Path,
) -> None:
    with edm_serve(tmp_path, f"sqlite:///{tmp_path / 'edm.sqlite3'}") as served:
        for _ in range(
            20
        ):  # warm up: the first requests allocate what the process keeps
            httpx.get(served.url + "/healthz", headers={"X-Padding": "a" * 30_000})
        before = served.rss_bytes()
        connection = Connection(served.port)
        try:
            connection.send(request_head("GET", "/healthz")[:-2] + b"X-Padding: ")
            with contextlib.suppress(
                ConnectionError
            ):  # the server may cut the connection mid-send
                for _ in range(8 * 16):
                    connection.send(
                        b"a" * (64 * 1024)
                    )  # 8 MiB, and never the CRLF that ends the header
            time.sleep(0.5)
            grown = served.rss_bytes() - before
            print(f"RSS grew by {grown / MIB:.2f} MiB")
            assert grown < 3 * MIB, f"the worker grew by {grown / MIB:.1f} MiB"
            assert connection.answer().status == 431
            assert connection.closed_by_server()
        finally:
            connection.close()
        assert httpx.get(served.url + "/healthz").status_code == 200


def test_a_websocket_upgrade_is_served_as_plain_http(server_port: int) -> None:
    connection = Connection(server_port)
    try:
        connection.send(
            request_head(
                "GET",
                "/healthz",
                "Upgrade: websocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version: 13",
            )
        )
        assert connection.answer().status == 200
    finally:
        connection.close()


# --------------------------------------------------------------------------- graceful stop


@pytest.fixture
def database_url(backend: str, tmp_path: Path, postgres_url: str) -> str:
    return (
        f"sqlite:///{tmp_path / 'edm.sqlite3'}" if backend == "sqlite" else postgres_url
    )


def _wait_until_refused(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        # A reset means the connection reached the backlog as the port closed: try again.
        with contextlib.suppress(ConnectionResetError):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except ConnectionRefusedError:
                return
        time.sleep(0.05)
    raise AssertionError(
        f"port {port} still accepts connections {seconds} s after SIGTERM"
    )


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_finishes_the_write_in_flight_refuses_new_connections_and_exits_0(
    backend: str, database_url: str, tmp_path: Path, workers: int
) -> None:
    tenant = f"tenant-stop-{os.urandom(6).hex()}"
    token = make_token(tenant)
    body = orjson.dumps({"name": "Written while stopping", "description": "d" * 2000})
    head = request_head(
        "POST",
        ACCOUNTS,
        f"Authorization: Bearer {token}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Expect: 100-continue",
    )
    with edm_serve(tmp_path, database_url, workers) as served:
        connection = Connection(served.port)
        try:
            connection.send(head)
            assert connection.answer().status == 100  # the handler is reading the body
            connection.send(body[: len(body) // 2])
            served.process.send_signal(signal.SIGTERM)
            _wait_until_refused(served.port, 5)
            assert served.process.poll() is None, (
                "the server exited with a write in flight"
            )
            connection.send(body[len(body) // 2 :])
            answer = connection.answer()
            assert answer.status == 201, answer.body
            assert answer.headers["connection"] == "close"
            assert connection.closed_by_server()
        finally:
            connection.close()
        assert served.process.wait(timeout=40) == 0, served.output()
        assert "Traceback" not in served.output()
    created = orjson.loads(answer.body)
    with ServerThread(
        create_app(base_settings(database_url, tmp_path / "reader"))
    ) as reader:
        stored = httpx.get(
            f"{reader.url}{ACCOUNTS}/{created['id']}",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert stored.status_code == 200 and stored.json() == created


@pytest.mark.slow
def test_a_request_still_running_when_the_grace_period_ends_is_503(
    database_urls: dict[str, str], tmp_path: Path
) -> None:
    server = ServerThread(
        create_app(base_settings(database_urls["sqlite"], tmp_path)),
        timeout_graceful_shutdown=1,
    ).__enter__()
    head = request_head(
        "POST",
        ACCOUNTS,
        f"Authorization: Bearer {make_token('tenant-grace')}",
        "Content-Type: application/json",
        "Content-Length: 100",
        "Expect: 100-continue",
    )
    connection = Connection(server.port)
    stopping = threading.Thread(target=server.__exit__, args=(None, None, None))
    try:
        connection.send(head)
        assert connection.answer().status == 100
        connection.send(b'{"name":')  # and never the rest
        stopping.start()
        answer = connection.answer()
    finally:
        connection.close()
        stopping.join(timeout=20)
    assert answer.status == 503, answer
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "1"
    assert orjson.loads(answer.body)["code"] == "service_unavailable"
