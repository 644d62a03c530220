"""Point benchmark (issue 6): ``python -m bench.point [--seconds 8] [--rounds 2] [--memory-minutes 5]``.

* get-by-id: ``GET /api/v1/crm/accounts/{id}`` over the 10,000 accounts of tenant
  ``bench-point`` (ids ``acc_`` + n zero-padded to 26 digits, reseeded through
  COPY on every run), a random one per request.
* list first page: ``GET /api/v1/crm/accounts`` for ``bench-point``.
* create, patch with If-Match: as ``bench.writes`` (tenant ``bench-writes``).
* mix: 70% get-by-id, 15% list first page, 8% patch with If-Match, 5% create and
  2% selective search, all in ``bench-point``; pgbench runs the same statements
  with the same weights.
* ``NAME @50%``: get-by-id, list, create and patch again with wrk pacing each
  connection so that the offered rate is about half the measured maximum.
* memory: the mix for ``--memory-minutes`` while sampling the RSS of each worker
  of ``edm serve`` every 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote

import asyncpg
from sqlalchemy.dialects import postgresql

from bench import seed as seeding
from bench import writes
from bench.common import (
    SECRET,
    Result,
    analyze,
    ensure_database,
    ensure_tools,
    environment,
    inline_sql,
    load_arguments,
    pgbench_mix,
    report,
    rss_mib,
    serve_workers,
    server_process,
    wrk,
)
from bench.list import token
from edm.crm.registry import REGISTRY
from edm.kit.auth import TokenVerifier
from edm.kit.settings import Settings

repository = REGISTRY["accounts"].repository
parse_list_query = REGISTRY["accounts"].grammar.parse
PATH = "/api/v1/crm/accounts"
TENANT = "bench-point"
RECORDS = 10_000
PATCH_TARGETS = 2000
SEARCH_N = 4242
PG_ID = "('acc_' || lpad(:n::text, 26, '0'))"
MIX = {"get-by-id": 70, "list first page": 15, "patch with If-Match": 8, "create": 5, "search": 2}
WORKLOADS = ("get-by-id", "list first page", "create", "patch with If-Match", "mix", "memory")
PACED = ("get-by-id", "list first page", "create", "patch with If-Match")
LUA = Path(__file__).resolve().parent / "lua"
SAMPLE_SECONDS = 5
WARM_SECONDS = 30


@dataclass
class Workload:
    name: str
    tenant: str
    url: str
    script: Callable[[], Path | None]  # called before each wrk run: patch scripts carry current versions
    pgbench: list[tuple[str, int]]


def _caller(tenant: str):  # type: ignore[no-untyped-def]
    return asyncio.run(TokenVerifier(Settings(jwt_secret=SECRET)).verify(token(tenant)))


def _point_id(n: int) -> str:
    return f"acc_{n:026d}"


def _get_sql() -> str:
    """The app's get-by-id SELECT, the id drawn as the Lua script draws it."""
    statement = repository.get_statement(_caller(TENANT), "__ID__")
    return f"\\set n random(1, {RECORDS})\n" + inline_sql(statement).replace("'__ID__'", PG_ID)


def _plain_get_sql() -> str:
    """The cheapest SELECT of the same row (every column, no JSON), for scale."""
    return f"\\set n random(1, {RECORDS})\nSELECT * FROM accounts WHERE tenant_id = '{TENANT}' AND id = {PG_ID} AND NOT is_deleted"


def _list_sql(params: list[tuple[str, str]]) -> str:
    """``bench.list._sql`` for the first page of tenant ``bench-point``."""
    statement = repository.list_statement(_caller(TENANT), parse_list_query(params), None, "postgresql")
    return str(statement.compile(dialect=postgresql.asyncpg.dialect(), compile_kwargs={"literal_binds": True}))


def _search_term() -> str:
    """Industry and number of one seeded name (say "Acme Retail 4241" gives "Retail 4241"): one match."""
    record = next(itertools.islice(seeding.records(TENANT, RECORDS), SEARCH_N - 1, None))
    return " ".join(record[seeding.COLUMNS.index("name")].split()[1:])


def _point_records() -> Iterator[tuple[Any, ...]]:
    id_at, deleted_at = seeding.COLUMNS.index("id"), seeding.COLUMNS.index("is_deleted")
    for n, record in enumerate(seeding.records(TENANT, RECORDS), start=1):
        row = list(record)
        row[id_at], row[deleted_at] = _point_id(n), False
        yield tuple(row)


async def _seed_point(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DELETE FROM accounts WHERE tenant_id = $1", TENANT)
        await conn.copy_records_to_table("accounts", records=_point_records(), columns=seeding.COLUMNS)
        # every run measures a vacuumed table (visibility map, GIN pending lists), whatever ran before
        await conn.execute("VACUUM ANALYZE accounts")
    finally:
        await conn.close()


async def _point_versions(url: str) -> list[int]:
    """The current version of patch targets 1..PATCH_TARGETS."""
    conn = await asyncpg.connect(url)
    try:
        ids = [_point_id(n) for n in range(1, PATCH_TARGETS + 1)]
        rows = await conn.fetch("SELECT id, version FROM accounts WHERE tenant_id = $1 AND id = ANY($2)", TENANT, ids)
    finally:
        await conn.close()
    found = {row["id"]: row["version"] for row in rows}
    return [found[i] for i in ids]


def _lua(name: str, **values: Any) -> str:
    return Template((LUA / f"{name}.lua").read_text()).substitute(values)


def _workloads(url: str, base: str, scripts: Path, connections: int) -> dict[str, Workload]:
    get_lua, create_lua = scripts / "get.lua", scripts / "create.lua"
    get_lua.write_text(_lua("get", path=PATH, records=RECORDS))
    create_lua.write_text(writes.CREATE_LUA % json.dumps(writes.BODY))
    term = _search_term()
    sql = {
        "get-by-id": _get_sql(),
        "list first page": _list_sql([]),
        "create": writes._insert_sql(),
        "patch with If-Match": writes._update_sql(),
        "search": _list_sql([("q", term)]),
    }
    patch_ids: list[str] = []

    def patch_script() -> Path:
        if not patch_ids:
            patch_ids.extend(writes._seed_records(base))
        return writes._patch_script(scripts / "patch.lua", base, patch_ids)

    def mix_script() -> Path:
        path = scripts / "mix.lua"
        versions = ",".join(map(str, asyncio.run(_point_versions(url))))
        path.write_text(
            _lua(
                "mix", path=PATH, records=RECORDS, threads=min(2, connections), versions=versions, weights=",".join(map(str, MIX.values())),
                patch_body=json.dumps(writes.PATCH), create_body=json.dumps(writes.BODY), search=quote(term),
            )
        )  # fmt: skip
        return path

    return {
        "get-by-id": Workload("get-by-id", TENANT, base + PATH, lambda: get_lua, [(sql["get-by-id"], 1)]),
        "list first page": Workload("list first page", TENANT, base + PATH, lambda: None, [(sql["list first page"], 1)]),
        "create": Workload("create", writes.TENANT, base + PATH, lambda: create_lua, [(sql["create"], 1)]),
        "patch with If-Match": Workload("patch with If-Match", writes.TENANT, base + PATH, patch_script, [(sql["patch with If-Match"], 1)]),
        "mix": Workload("mix", TENANT, base + PATH, mix_script, [(sql[kind], weight) for kind, weight in MIX.items()]),
    }


def _headers(workload: Workload) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(workload.tenant)}"}


def _measure(workload: Workload, args: argparse.Namespace) -> Result:
    """Warm-up, then rounds alternating wrk and pgbench."""
    result = Result(workload.name)
    analyze(args.database_url)
    headers = _headers(workload)
    wrk(workload.url, headers, connections=args.connections, seconds=2, script=workload.script())
    for _ in range(args.rounds):
        result.api.append(wrk(workload.url, headers, connections=args.connections, seconds=args.seconds, script=workload.script()))
        result.pgbench_tps.append(pgbench_mix(args.database_url, workload.pgbench, clients=args.connections, seconds=args.seconds))
    return result


def _paced(workload: Workload, at_max: dict[str, Any], scripts: Path, args: argparse.Namespace) -> Result:
    """The workload offered at half the measured maximum rate.

    Each connection aims at one request every connections / (max / 2)
    seconds: it waits that interval less the median response time at full
    speed, drawn uniformly from zero to twice that so that the connections
    do not fire in step (which would queue them behind each other).
    """
    script = workload.script()
    interval_ms = 1000 * args.connections / (at_max["api_req_s"] / 2)
    delay_ms = max(0.0, interval_ms - at_max["p50_ms"])
    paced = scripts / "paced.lua"
    paced.write_text((script.read_text() if script else "") + _lua("delay", ms=f"{delay_ms:.3f}"))
    result = Result(f"{workload.name} @50%")
    result.api.append(wrk(workload.url, _headers(workload), connections=args.connections, seconds=args.seconds, script=paced))
    return result


def _memory(workload: Workload, server_pid: int, args: argparse.Namespace) -> tuple[Result, dict[int, list[tuple[float, float]]]]:
    """The mix for ``--memory-minutes``, sampling each worker's RSS (MiB) every few seconds."""
    result = Result(f"mix ({args.memory_minutes} min)")
    samples: dict[int, list[tuple[float, float]]] = {}
    script = workload.script()
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        run = pool.submit(wrk, workload.url, _headers(workload), connections=args.connections, seconds=args.memory_minutes * 60, script=script)
        while not run.done():
            elapsed = time.monotonic() - started
            for pid in serve_workers(server_pid):
                if (rss := rss_mib(pid)) is not None:
                    samples.setdefault(pid, []).append((elapsed, rss))
            wait([run], timeout=SAMPLE_SECONDS)
        result.api.append(run.result())
    return result, samples


def _memory_rows(samples: dict[int, list[tuple[float, float]]]) -> list[dict[str, Any]]:
    """Per worker: RSS after the first 30 s (warm), at the end, min and max from warm on, the
    change warm → end in %, and "flat" when every sample from warm on is within ±10% of warm."""
    rows = []
    for pid, points in sorted(samples.items()):
        after = [rss for elapsed, rss in points if elapsed >= WARM_SECONDS] or [points[-1][1]]
        warm, end = after[0], after[-1]
        rows.append({
            "pid": pid, "samples": len(points), "warm_mib": round(warm, 1), "end_mib": round(end, 1),
            "min_mib": round(min(after), 1), "max_mib": round(max(after), 1),
            "change_pct": round(100 * (end - warm) / warm, 1) + 0.0, "flat": all(abs(rss - warm) <= 0.1 * warm for rss in after),
        })  # fmt: skip
    return rows


def _print_memory(minutes: int, rows: list[dict[str, Any]]) -> None:
    print(f"\nmemory: RSS (MiB) of each worker over {minutes} min of the mix, sampled every {SAMPLE_SECONDS} s")
    header = f"{'pid':>8}{'samples':>9}{'warm':>9}{'end':>9}{'min':>9}{'max':>9}{'change %':>10}{'flat':>6}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['pid']:>8}{row['samples']:>9}{row['warm_mib']:>9}{row['end_mib']:>9}{row['min_mib']:>9}"
            f"{row['max_mib']:>9}{row['change_pct']:>10}{'yes' if row['flat'] else 'NO':>6}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    load_arguments(parser, pool_size=4)
    parser.add_argument("--only", help=f"comma list of workloads to run, of: {', '.join(WORKLOADS)}")
    parser.add_argument("--memory-minutes", type=int, default=5, help="minutes of the mix while sampling RSS (0 skips)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment for edm serve (repeatable)")
    args = parser.parse_args()
    only = args.only.split(",") if args.only else list(WORKLOADS)
    if unknown := set(only) - set(WORKLOADS):
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    extra_env = dict(item.split("=", 1) for item in args.env)
    ensure_tools()
    ensure_database(args.database_url)
    asyncio.run(_seed_point(args.database_url))
    asyncio.run(writes._seed_pgbench_rows(args.database_url))
    scripts = Path(tempfile.mkdtemp(prefix="edm-wrk-"))
    results, memory = [], []
    with server_process(args.database_url, workers=args.workers, pool_size=args.pool_size, extra_env=extra_env) as (base, process):
        workloads = _workloads(args.database_url, base, scripts, args.connections)
        for name in (n for n in WORKLOADS if n in only and n != "memory"):
            result = _measure(workloads[name], args)
            results.append(result)
            print(result.row(), flush=True)
            if name == "get-by-id":
                plain = Result("get-by-id vs SELECT *", api=result.api)
                plain.pgbench_tps = [pgbench_mix(args.database_url, [(_plain_get_sql(), 1)], clients=args.connections, seconds=args.seconds) for _ in range(args.rounds)]
                results.append(plain)
                print(plain.row(), flush=True)
            if name in PACED:
                results.append(_paced(workloads[name], result.row(), scripts, args))
                print(results[-1].row(), flush=True)
        if "memory" in only and args.memory_minutes > 0:
            result, samples = _memory(workloads["mix"], process.pid, args)
            results.append(result)
            memory = _memory_rows(samples)
            print(result.row(), flush=True)
    env = environment(vars(args))
    if memory:
        env["memory"] = memory
    report("point benchmark", results, env)
    if memory:
        _print_memory(args.memory_minutes, memory)


if __name__ == "__main__":
    main()
