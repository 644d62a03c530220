"""The `edm` command as a user runs it: a free port, a clean environment, a server that is ready."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

# The `edm` command of the virtualenv running the tests.
EDM = str(Path(sys.executable).parent / "edm")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any EDM_ setting (the test's own), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDM_")}
    return {**env, **extra}


@contextlib.contextmanager
def edm_serve(
    edm: str | Path,
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    ready_within_s: float = 30,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``edm serve --port <free> *args``, yielded (its URL, the process) once ``/readyz`` answers 200;
    terminated afterwards. A server that exits or stays unready fails the test with its output."""
    port = free_port()
    process = subprocess.Popen(
        [str(edm), "serve", "--port", str(port), *args],
        cwd=cwd,
        env=dict(env) if env is not None else clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_within_s
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, f"edm serve {' '.join(args)} did not become ready"
            time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()
