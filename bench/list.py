"""List benchmark (issue 3): ``python -m bench.list [--seed] [--seconds 8] [--rounds 2]``.

Seeds (with ``--seed``, or when the data is missing) 1,000,000 accounts in
tenant ``bench-big`` plus 99 tenants of 10,000, then measures each list
workload through ``edm serve`` with wrk at 8 connections, and the same SQL
through ``pgbench -M prepared`` at 8 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from urllib.parse import urlencode

import asyncpg
import httpx
import jwt
from sqlalchemy.dialects import postgresql

from bench import seed as seeding
from bench.common import (
    SECRET,
    Result,
    ensure_database,
    ensure_tools,
    environment,
    load_arguments,
    pgbench,
    report,
    server,
    wrk,
)
from edm.crm.registry import REGISTRY
from edm.kit.auth import TokenVerifier
from edm.kit.cursor import CursorSigner
from edm.kit.settings import Settings

repository = REGISTRY["accounts"].repository
parse_list_query = REGISTRY["accounts"].grammar.parse
PATH = "/api/v1/crm/accounts"
TENANT = "bench-big"
WORKLOADS: dict[str, list[tuple[str, str]]] = {
    "first page (default sort)": [],
    "page 200 by cursor": [],  # the cursor is added after a real walk
    "3 filters + sort": [
        ("filter[industry]", "Software"),
        ("filter[lifecycle_stage]", "customer"),
        ("filter[owner_id]", "usr-00000000-0000-0000-0000-000000000007"),
        ("sort", "-updated_at"),
    ],
    "name sort": [("sort", "name")],
    "q selective": [("q", "123457")],
    "q broad": [("q", "acme")],
    "tags any": [("filter[tags][any]", "priority,trial")],
    "include_total": [("include_total", "true")],
    # Not a target: a filtered total counts its matches (about 200,000 here).
    "include_total, filtered": [("filter[lifecycle_stage]", "customer"), ("include_total", "true")],
}


def token(tenant: str) -> str:
    return jwt.encode({"sub": "bench", "tenant_id": tenant, "exp": int(time.time()) + 86400}, SECRET, algorithm="HS256")


async def _count(url: str, tenant: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM accounts WHERE tenant_id = $1", tenant)
    finally:
        await conn.close()


async def _vacuum(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM ANALYZE accounts")
    finally:
        await conn.close()


def _sql(params: list[tuple[str, str]], cursor_values: list | None) -> str:
    caller = asyncio.run(TokenVerifier(Settings(jwt_secret=SECRET)).verify(token(TENANT)))
    query = parse_list_query(params)
    dialect = postgresql.asyncpg.dialect()
    statements = [repository.list_statement(caller, query, cursor_values, "postgresql")]
    if query.include_total:
        statements.append(repository.count_statement(caller, query, "postgresql"))
    return ";\n".join(str(s.compile(dialect=dialect, compile_kwargs={"literal_binds": True})) for s in statements)


def _page_200_cursor(base: str, headers: dict[str, str]) -> str:
    cursor = None
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for _ in range(199):
            body = client.get(PATH, params={"cursor": cursor} if cursor else {}).json()
            cursor = body["next_cursor"]
    assert cursor
    return cursor


def main() -> None:
    parser = load_arguments(argparse.ArgumentParser(description=__doc__), pool_size=2)
    parser.add_argument("--seed", action="store_true", help="reseed even when the data is there")
    parser.add_argument("--only", help="comma list of workload names to run")
    args = parser.parse_args()
    ensure_tools()
    ensure_database(args.database_url)
    if args.seed or asyncio.run(_count(args.database_url, TENANT)) != 1_000_000:
        started = time.monotonic()
        asyncio.run(seeding.seed(args.database_url, {TENANT: 1_000_000, **{f"bench-small-{n}": 10_000 for n in range(99)}}))
        print(f"seeded 1,990,000 accounts in {time.monotonic() - started:.0f} s")
    else:
        # Other benchmarks write to this database; measure a vacuumed table
        # (visibility map, GIN pending lists), as after the seed.
        asyncio.run(_vacuum(args.database_url))

    headers = {"Authorization": f"Bearer {token(TENANT)}"}
    signer = CursorSigner(SECRET.encode())
    workloads = {k: v for k, v in WORKLOADS.items() if not args.only or k in args.only.split(",")}
    results = []
    with server(args.database_url, workers=args.workers, pool_size=args.pool_size) as base:
        for name, params in workloads.items():
            cursor_values = None
            if name == "page 200 by cursor":
                cursor = _page_200_cursor(base, headers)
                query = parse_list_query([])
                cursor_values = signer.decode(cursor, query.fingerprint(TENANT, None))
                params = [("cursor", cursor)]
            url = f"{base}{PATH}?{urlencode(params)}"
            sql = _sql([p for p in params if p[0] != "cursor"], cursor_values)
            result = Result(name)
            wrk(url, headers, connections=args.connections, seconds=2)  # warm-up
            for _ in range(args.rounds):
                result.api.append(wrk(url, headers, connections=args.connections, seconds=args.seconds))
                result.pgbench_tps.append(pgbench(args.database_url, sql, clients=args.connections, seconds=args.seconds))
            results.append(result)
            print(result.row(), flush=True)
    settings = {k: v for k, v in vars(args).items() if k != "seed"}
    report("list benchmark", results, environment(settings))


if __name__ == "__main__":
    main()
