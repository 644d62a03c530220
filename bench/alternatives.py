"""The alternatives issue 6 asked to measure: ``python -m bench.alternatives [--rounds 3]``.

* decode: CPU per create body for what the service does (orjson + the
  pydantic models generated from the field table) against msgspec decoding
  into a Struct with the same types and length limits (msgspec cannot run the
  per-field text checks, so its figure is a lower bound for a msgspec path).
* sql: CPU per get-by-id through SQLAlchemy Core's async engine (statement
  built and executed per call, rows processed) against the service's path
  (statement compiled once, run on asyncpg directly), both in-process.
* server: get-by-id req/s through uvicorn and through granian (both with 2
  workers, uvloop, the same app factory), rounds interleaved.

CPU figures use ``time.process_time`` over many calls, which the machine's
noise disturbs less than wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import msgspec
import orjson
from sqlalchemy.ext.asyncio import create_async_engine

from bench import point, writes
from bench.common import DEFAULT_URL, SECRET, ensure_database, free_port, server, wait_until_ready, wrk
from bench.list import token
from edm.crm.registry import REGISTRY
from edm.kit.db import Database
from edm.kit.settings import Settings

_MSGSPEC_TYPES: dict[str, Any] = {
    "string": str, "enum": str, "id": str, "date-time": str, "boolean": bool, "integer": int, "number": float,
    "addresses": list[dict[str, Any]], "custom_fields": dict[str, Any], "tags": list[str],
}  # fmt: skip


ENGINE = REGISTRY["accounts"]
repository, CLIENT_FIELDS, validate_create = ENGINE.repository, ENGINE.resource.client_fields, ENGINE.validator.create

def _msgspec_struct() -> type:
    fields = []
    for f in CLIENT_FIELDS:
        kind: Any = _MSGSPEC_TYPES[f.kind]
        if f.kind == "string" and f.max_length:
            kind = Annotated[str, msgspec.Meta(max_length=f.max_length)]
        fields.append((f.name, kind | None, None))
    return msgspec.defstruct("AccountCreate", fields, forbid_unknown_fields=True)


def _cpu_per_call(function: Any, calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        function()
    return (time.process_time() - started) / calls * 1e6


def measure_decode(rounds: int) -> dict[str, float]:
    body = orjson.dumps(writes.BODY)
    decoder = msgspec.json.Decoder(_msgspec_struct())
    pydantic_us = [_cpu_per_call(lambda: validate_create(orjson.loads(body)), 20_000) for _ in range(rounds)]
    msgspec_us = [_cpu_per_call(lambda: decoder.decode(body), 20_000) for _ in range(rounds)]
    return {"pydantic_us": statistics.median(pydantic_us), "msgspec_us": statistics.median(msgspec_us)}


async def _sql(url: str, caller: Any, rounds: int, calls: int) -> dict[str, float]:
    settings = Settings(database_url=url, jwt_secret=SECRET, db_pool_size=1).with_secret()
    ids = [point._point_id(n) for n in range(1, calls + 1)]
    engine = create_async_engine(settings.resolved_database_url, pool_size=1)
    reader = engine.execution_options(isolation_level="AUTOCOMMIT")
    db = Database(settings)
    await db.start()

    async def through_sqlalchemy() -> None:
        for account_id in ids:
            async with reader.connect() as conn:
                (await conn.execute(repository.get_statement(caller, account_id))).mappings().first()

    async def through_asyncpg() -> None:
        for account_id in ids:
            async with db.read(caller.tenant_id) as conn:
                await repository.get(conn, caller, account_id)

    figures: dict[str, list[float]] = {"sqlalchemy_core_us": [], "asyncpg_compiled_once_us": []}
    try:
        for _ in range(rounds):
            for name, run in (("sqlalchemy_core_us", through_sqlalchemy), ("asyncpg_compiled_once_us", through_asyncpg)):
                started = time.process_time()
                await run()
                figures[name].append((time.process_time() - started) / calls * 1e6)
    finally:
        await engine.dispose()
        await db.dispose()
    return {name: statistics.median(values) for name, values in figures.items()}


def measure_sql(url: str, rounds: int) -> dict[str, float]:
    import uvloop

    return uvloop.run(_sql(url, point._caller(point.TENANT), rounds, 2000))


def _granian(url: str, *, workers: int, pool_size: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    metrics = tempfile.mkdtemp(prefix="edm-metrics-")
    env = {**os.environ, "EDM_DATABASE_URL": url, "EDM_JWT_SECRET": SECRET, "EDM_DB_POOL_SIZE": str(pool_size),
           "EDM_LOG_LEVEL": "warning", "PROMETHEUS_MULTIPROC_DIR": metrics}  # fmt: skip
    command = [str(Path(sys.executable).parent / "granian"), "--interface", "asgi", "--factory", "--workers", str(workers),
               "--port", str(port), "--loop", "uvloop", "--no-ws", "--log-level", "warning", "--no-access-log",
               "edm.server.app:create_app"]  # fmt: skip
    process = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, "granian")
    except RuntimeError:
        process.terminate()
        raise
    return process, base


def measure_servers(url: str, rounds: int, seconds: int) -> dict[str, float]:
    scripts = Path(tempfile.mkdtemp(prefix="edm-wrk-"))
    get_lua = scripts / "get.lua"
    get_lua.write_text(point._lua("get", path=point.PATH, records=point.RECORDS))
    headers = {"Authorization": f"Bearer {token(point.TENANT)}"}
    figures: dict[str, list[float]] = {"uvicorn_req_s": [], "granian_req_s": []}
    for _ in range(rounds):
        with server(url, workers=2, pool_size=4) as base:
            wrk(base + point.PATH, headers, connections=8, seconds=2, script=get_lua)
            figures["uvicorn_req_s"].append(wrk(base + point.PATH, headers, connections=8, seconds=seconds, script=get_lua).requests_per_second)
        process, base = _granian(url, workers=2, pool_size=4)
        try:
            wrk(base + point.PATH, headers, connections=8, seconds=2, script=get_lua)
            figures["granian_req_s"].append(wrk(base + point.PATH, headers, connections=8, seconds=seconds, script=get_lua).requests_per_second)
        finally:
            process.terminate()
            process.wait(timeout=30)
    return {name: statistics.median(values) for name, values in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--skip-decode", action="store_true")
    args = parser.parse_args()
    ensure_database(args.database_url)
    asyncio.run(point._seed_point(args.database_url))
    if not args.skip_decode:
        print("decode (CPU per create body):", measure_decode(args.rounds), flush=True)
    print("sql (CPU per get-by-id, in-process):", measure_sql(args.database_url, args.rounds), flush=True)
    print("server (get-by-id, 2 workers, 8 connections):", measure_servers(args.database_url, args.rounds, args.seconds), flush=True)


if __name__ == "__main__":
    main()
