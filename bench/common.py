"""Shared pieces of the benchmarks: the server under test, wrk, pgbench, reporting.

Everything runs on this machine: ``edm serve`` on PostgreSQL, wrk as the load
generator, and pgbench running the same SQL at the same concurrency, so each
workload reports the ratio API ÷ pgbench.  Rounds are interleaved (API,
pgbench, API, pgbench…) and medians reported, because the machine is noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-bench-secret-bench-secret-0123"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/edm_bench"


@dataclass
class Measurement:
    requests_per_second: float
    p50_ms: float
    p99_ms: float


@dataclass
class Result:
    name: str
    api: list[Measurement] = field(default_factory=list)
    pgbench_tps: list[float] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        rps = statistics.median(m.requests_per_second for m in self.api)
        tps = statistics.median(self.pgbench_tps) if self.pgbench_tps else None
        return {
            "workload": self.name,
            "api_req_s": round(rps, 1),
            "p50_ms": round(statistics.median(m.p50_ms for m in self.api), 2),
            "p99_ms": round(statistics.median(m.p99_ms for m in self.api), 2),
            "pgbench_tps": round(tps, 1) if tps else None,
            "ratio": round(rps / tps, 3) if tps else None,
        }


def ensure_tools() -> None:
    missing = [tool for tool in ("wrk", "pgbench") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"bench needs {', '.join(missing)}: apt-get install -y wrk postgresql-client")


def create_database(url: str, name: str) -> bool:
    """Create database ``name`` on the server of ``url`` unless it exists; True when it was created."""
    admin = sa.make_url(url).set(database="postgres").render_as_string(hide_password=False)
    exists = subprocess.run(
        ["psql", admin, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not exists:
        subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    return not exists


def ensure_database(url: str) -> None:
    create_database(url, sa.make_url(url).database or "edm_bench")
    env = {**os.environ, "EDM_DATABASE_URL": url, "EDM_JWT_SECRET": SECRET}
    subprocess.run([str(Path(sys.executable).parent / "edm"), "migrate"], env=env, check=True)


def analyze(url: str) -> None:
    """Fresh planner statistics before a workload.

    The workloads before it may have added 100,000 rows to a tenant; a server
    with autovacuum on analyzes them within a minute, but this machine's runs
    with autovacuum off, and on stale statistics PostgreSQL looks a record up by
    the tenant's partial index instead of the primary key (60 ms, not 0.1).
    """
    subprocess.run(["psql", url, "-qc", "ANALYZE accounts"], check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(base: str, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/readyz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not start")


@contextmanager
def server(url: str, *, workers: int, pool_size: int, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    with server_process(url, workers=workers, pool_size=pool_size, extra_env=extra_env) as (base, _):
        yield base


# The load runs far past 100 requests a second for one tenant: the rate limit
# still runs on every request (in process, or in Redis with --env EDM_REDIS_URL=…)
# but with a budget the load never spends, so no request is a 429.
_UNSPENT_RATE_LIMIT = {"EDM_RATE_LIMIT_PER_S": "1000000000", "EDM_RATE_LIMIT_BURST": "1000000000"}


@contextmanager
def server_process(url: str, *, workers: int, pool_size: int, extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``server``, also yielding the ``edm serve`` process (its pid leads to the workers)."""
    port = free_port()
    env = {**os.environ, "EDM_DATABASE_URL": url, "EDM_JWT_SECRET": SECRET, "EDM_DB_POOL_SIZE": str(pool_size), "EDM_LOG_LEVEL": "warning", **_UNSPENT_RATE_LIMIT, **(extra_env or {})}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "edm"), "serve", "--port", str(port), "--workers", str(workers)],
        env=env, cwd=tempfile.mkdtemp(prefix="edm-bench-"),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, "edm serve")
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def serve_workers(root: int) -> list[int]:
    """The worker processes of ``edm serve``: its descendants without children of their own
    (multiprocessing's resource tracker aside), or the process itself when it serves alone.
    Scans /proc/*/stat, since /proc/PID/task/TID/children is not in every kernel."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    leaves, stack = [], list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid in children:
            stack += children[pid]
        elif b"resource_tracker" not in _cmdline(pid):
            leaves.append(pid)
    return sorted(leaves) or [root]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def rss_mib(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")), None)


_LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, headers: dict[str, str], *, connections: int, seconds: int, script: Path | None = None) -> Measurement:
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    latency = {pct: float(value) * _UNIT[unit] for pct, value, unit in _LATENCY.findall(output)}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise RuntimeError(f"{non_2xx.group(1)} requests failed on {url}:\n{output[-1500:]}")
    return Measurement(float(_RPS.search(output).group(1)), latency["50"], latency["99"])  # type: ignore[union-attr]


def pgbench(url: str, sql: str, *, clients: int, seconds: int) -> float:
    return pgbench_mix(url, [(sql, 1)], clients=clients, seconds=seconds)


def pgbench_mix(url: str, scripts: list[tuple[str, int]], *, clients: int, seconds: int) -> float:
    """pgbench over several scripts, each ``(sql, weight)`` (``-f file@weight``)."""
    parsed = sa.make_url(url)
    files = []
    for sql, weight in scripts:
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
            meta = [line for line in sql.splitlines() if line.startswith("\\")]
            statement = " ".join(line for line in sql.splitlines() if not line.startswith("\\"))
            script.write("".join(m + "\n" for m in meta) + statement.strip().rstrip(";") + ";\n")
        files.append((script.name, weight))
    command = [
        "pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(2, clients)), "-T", str(seconds),
        *(arg for name, weight in files for arg in ("-f", f"{name}@{weight}")),
        "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432),
        "-U", parsed.username or "postgres", parsed.database or "postgres",
    ]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    for name, _ in files:
        os.unlink(name)
    if finished.returncode != 0:
        raise RuntimeError(f"pgbench failed: {finished.stderr[-2000:]}")
    output = finished.stdout
    return float(re.search(r"tps = ([\d.]+)", output).group(1))  # type: ignore[union-attr]


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_speed(url: str) -> float:
    """``pgbench -S`` (built-in one-row primary-key SELECT, scale 10, 4 clients, 5 s) on a
    scratch database: how fast this machine is right now.  It moves by 2x from one
    hour to the next here, so absolute latencies are only comparable next to it."""
    parsed = sa.make_url(url)
    database = "edm_bench_calibration"
    target = ["-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres"]
    if create_database(url, database):
        subprocess.run(["pgbench", "-i", "-q", "-s", "10", *target, database], check=True, capture_output=True)
    output = subprocess.run(["pgbench", "-n", "-S", "-M", "prepared", "-c", "4", "-j", "2", "-T", "5", *target, database], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"tps = ([\d.]+)", output).group(1))  # type: ignore[union-attr]


def environment(settings: dict[str, Any]) -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip())
    names = ("fastapi", "starlette", "uvicorn", "granian", "sqlalchemy", "asyncpg", "orjson", "msgspec", "pydantic")
    packages = {name: version for name in names if (version := _version(name))}
    return {
        "commit": commit + ("+dirty" if dirty else ""),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "packages": packages,
        "settings": settings,
        "pgbench_S_tps": round(machine_speed(settings.get("database_url") or DEFAULT_URL)),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def load_arguments(parser: argparse.ArgumentParser, *, pool_size: int) -> argparse.ArgumentParser:
    """The options every HTTP benchmark takes: where, how long, how hard, and the server's shape."""
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool-size", type=int, default=pool_size)
    return parser


def report(title: str, results: list[Result], env: dict[str, Any]) -> None:
    rows = [r.row() for r in results]
    print(f"\n{title}")
    print(json.dumps(env, indent=2))
    header = f"{'workload':<28}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'pgbench':>10}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['workload']:<28}{row['api_req_s']:>10}{row['p50_ms']:>9}{row['p99_ms']:>9}"
            f"{row['pgbench_tps'] or '-':>10}{row['ratio'] or '-':>8}"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{title.split()[0].lower()}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"environment": env, "results": rows}, indent=2))
    print(f"\nsaved {path.relative_to(ROOT)}")


def inline_sql(statement: Any, values: dict[str, Any] | None = None) -> str:
    """A statement as PostgreSQL SQL with its parameters (or ``values`` for them) written in as literals,
    for pgbench (SQLAlchemy's literal_binds cannot render JSON values)."""
    from datetime import datetime

    import orjson
    from sqlalchemy.dialects import postgresql

    compiled = statement.compile(dialect=postgresql.asyncpg.dialect())
    params = compiled.construct_params(values)
    sql = compiled.string

    def literal(value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, (dict, list)):
            value = orjson.dumps(value).decode()
        return "'" + str(value).replace("'", "''") + "'"

    names = compiled.positiontup or []
    for index in range(len(names), 0, -1):  # $10 before $1
        sql = sql.replace(f"${index}", literal(params[names[index - 1]]))
    return sql
