"""Memory under large list queries: ``python -m bench.memory [--backend postgresql,sqlite] [--queries 200]``.

Starts one ``edm serve`` worker per backend (PostgreSQL in a throwaway
database, created and dropped here; SQLite in a temporary file), seeds 200
accounts through the API, and reads the worker's RSS:

1. ``baseline``: after ordinary traffic (creates, gets, patches, small lists);
2. ``warm``: after ``--warmup`` distinct large list queries, which fill the
   bounded caches to their steady state;
3. ``end``: after ``--queries`` more distinct large list queries.

Each large query is as large as the list caps allow: as many
``filter[custom_fields.<new key>][in]`` of 100 values (numbers, words and
booleans mixed, so that no two queries share a statement shape) as fit in
the query string, with a random sparse fieldset, sort and page size.  The
target is ``end`` within 10 % of ``warm``.  ``--src`` serves another
source tree (say a worktree of an older commit) with the same queries;
``--stop-at-mib`` ends a run whose worker grows past it.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench.common import ROOT, rss_mib, serve_workers, server_process
from bench.list import token
from edm.crm.engine.listing import MAX_FILTERS, MAX_LIST_VALUES, MAX_QUERY_BYTES
from edm.crm.registry import REGISTRY

PATH = "/api/v1/crm/accounts"
TENANT = "bench-memory"
ACCOUNTS = 200
RESOURCE = REGISTRY["accounts"].resource
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _value(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return str(rng.randrange(100_000))
    if kind == 1:
        return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 8)))
    if kind == 2:
        return rng.choice(("true", "false"))
    return f"{rng.randrange(1000)}.{rng.randrange(100)}"


def large_query(n: int) -> list[tuple[str, str]]:
    """Distinct query ``n``: custom-field in-lists up to the query string limit, and a random shape around them."""
    rng = random.Random(n)
    fields = rng.sample(RESOURCE.field_names, rng.randint(1, len(RESOURCE.field_names)))
    sortable = rng.sample(
        list(RESOURCE.sortable), rng.randint(1, min(4, len(RESOURCE.sortable)))
    )
    params = [
        ("fields", ",".join(fields)),
        (
            "sort",
            ",".join(("-" if rng.random() < 0.5 else "") + name for name in sortable),
        ),
        ("limit", str(rng.randint(1, 200))),
        ("include_total", rng.choice(("true", "false"))),
    ]
    for f in range(rng.randint(1, MAX_FILTERS)):
        values = ",".join(_value(rng) for _ in range(MAX_LIST_VALUES))
        candidate = [*params, (f"filter[custom_fields.q{n}_{f}][in]", values)]
        if len(httpx.URL(PATH, params=candidate).query) > MAX_QUERY_BYTES:
            break
        params = candidate
    return params


def _ordinary_traffic(client: httpx.Client) -> None:
    ids = []
    for n in range(ACCOUNTS):
        body = {
            "name": f"Memory {n}",
            "tags": ["bench"],
            "custom_fields": {"tier": ("gold", "silver")[n % 2], "seats": n},
        }
        created = client.post(PATH, json=body)
        created.raise_for_status()
        ids.append(created.json()["id"])
    for account_id in ids[:50]:
        client.get(f"{PATH}/{account_id}").raise_for_status()
        client.patch(
            f"{PATH}/{account_id}", json={"industry": "Retail"}
        ).raise_for_status()
    for params in (
        [],
        [("filter[custom_fields.tier]", "gold")],
        [("sort", "name"), ("limit", "20")],
        [("q", "memory 1")],
    ):
        client.get(PATH, params=params).raise_for_status()


def _rss(server_pid: int) -> float:
    (worker,) = serve_workers(server_pid)
    rss = rss_mib(worker)
    assert rss is not None, "the worker is gone"
    return rss


def _large_queries(
    client: httpx.Client, numbers: range, server_pid: int, stop_at_mib: float
) -> Iterator[tuple[int, float]]:
    """Send each query; yield (queries sent, RSS) every 10 queries and after the last."""
    for sent, n in enumerate(numbers, start=1):
        response = client.get(PATH, params=large_query(n))
        if response.status_code != 200:
            raise RuntimeError(
                f"query {n}: {response.status_code} {response.text[:300]}"
            )
        if sent % 10 == 0 or sent == len(numbers):
            rss = _rss(server_pid)
            yield sent, rss
            if rss > stop_at_mib:
                return


def run(backend: str, database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {"PYTHONPATH": str(Path(args.src).resolve()), "EDM_LOG_LEVEL": "warning"}
    headers = {"Authorization": f"Bearer {token(TENANT)}"}
    with (
        server_process(database_url, workers=1, pool_size=4, extra_env=env) as (
            base,
            process,
        ),
        httpx.Client(base_url=base, headers=headers, timeout=120) as client,
    ):
        started = time.monotonic()
        _ordinary_traffic(client)
        baseline = _rss(process.pid)
        *_, (_, warm) = _large_queries(
            client, range(args.warmup), process.pid, args.stop_at_mib
        )
        measured = range(args.warmup, args.warmup + args.queries)
        samples = list(_large_queries(client, measured, process.pid, args.stop_at_mib))
        sent, end = samples[-1]
        return {
            "backend": backend,
            "queries": sent,
            "stopped_early": sent < args.queries,
            "baseline_mib": round(baseline, 1),
            "warm_mib": round(warm, 1),
            "end_mib": round(end, 1),
            "max_mib": round(max(rss for _, rss in samples), 1),
            "growth_pct": round(100 * (end - warm) / warm, 1),
            "growth_from_baseline_pct": round(100 * (end - baseline) / baseline, 1),
            "seconds": round(time.monotonic() - started, 1),
            "samples": [[n, round(rss, 1)] for n, rss in samples],
        }


def _psql(admin_url: str, sql: str) -> None:
    subprocess.run(["psql", admin_url, "-qc", sql], check=True)


def _postgresql(args: argparse.Namespace) -> dict[str, Any]:
    name = f"edm_bench_memory_{uuid.uuid4().hex[:8]}"
    _psql(args.admin_url, f'CREATE DATABASE "{name}"')
    try:
        return run(
            "postgresql",
            sa.make_url(args.admin_url)
            .set(database=name)
            .render_as_string(hide_password=False),
            args,
        )
    finally:
        _psql(args.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sqlite(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edm-bench-memory-") as directory:
        return run("sqlite", f"sqlite:///{directory}/edm.sqlite3", args)


def _commit(src: Path) -> str:
    described = subprocess.run(
        ["git", "-C", str(src), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    return described.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--backend",
        default="postgresql,sqlite",
        help="comma list of postgresql, sqlite",
    )
    parser.add_argument(
        "--admin-url",
        default=DEFAULT_ADMIN_URL,
        help="PostgreSQL server where a throwaway database is made",
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument(
        "--src", default=str(ROOT / "src"), help="the source tree to serve"
    )
    parser.add_argument("--stop-at-mib", type=float, default=3072)
    args = parser.parse_args()
    runs = {"postgresql": _postgresql, "sqlite": _sqlite}
    backends = args.backend.split(",")
    if unknown := set(backends) - set(runs):
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")

    rows = [runs[backend](args) for backend in backends]
    print(f"\nworker RSS (MiB), serving {args.src} at {_commit(Path(args.src))}")
    print(
        f"{'backend':<12}{'queries':>8}{'baseline':>10}{'warm':>8}{'end':>8}{'max':>8}{'growth %':>10}{'from baseline %':>17}"
    )
    for row in rows:
        print(
            f"{row['backend']:<12}{row['queries']:>8}{row['baseline_mib']:>10}{row['warm_mib']:>8}{row['end_mib']:>8}"
            f"{row['max_mib']:>8}{row['growth_pct']:>10}{row['growth_from_baseline_pct']:>17}"
            + ("  (stopped early)" if row["stopped_early"] else "")
        )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"memory-{time.strftime('%Y%m%d-%H%M%S')}.json"
    settings = {k: v for k, v in vars(args).items() if k != "admin_url"}
    path.write_text(
        json.dumps(
            {
                "commit": _commit(Path(args.src)),
                "python": sys.version.split()[0],
                "settings": settings,
                "results": rows,
            },
            indent=2,
        )
    )
    print(f"\nsaved {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
