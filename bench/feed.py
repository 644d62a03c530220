"""A change-feed consumer on PostgreSQL: how many events a second one reader gets.

Seeds one tenant with ``--events`` account events (SQL, in one transaction:
the feed does not care who wrote them), then reads the whole feed through
``edm serve`` with ``limit=200``, following ``next_cursor`` as a consumer
does, and reports events a second (the issue's target: at least 20,000).

    .venv/bin/python -m bench.feed [--events 100000] [--database-url …]
"""

from __future__ import annotations

import argparse
import subprocess
import time

import httpx
import jwt
import sqlalchemy as sa

from bench.common import DEFAULT_URL, SECRET, ensure_database, server

TENANT = "bench-feed"
_SEED = """
INSERT INTO record_events (id, tenant_id, app_id, actor_app_id, resource, record_id, version, type, at, by, changes, data)
SELECT 'evt_' || lpad(to_hex(g), 26, '0'), '{tenant}', NULL, NULL, 'accounts', 'acc_' || lpad(to_hex(g / 5), 26, '0'),
       g % 5 + 1, CASE WHEN g % 5 = 0 THEN 'account.created' ELSE 'account.updated' END,
       now(), 'bench', jsonb_build_object('name', jsonb_build_array('old', 'new')),
       jsonb_build_object('id', 'acc_' || lpad(to_hex(g / 5), 26, '0'), 'name', 'Account ' || g, 'version', g % 5 + 1,
                          'tags', '["a","b"]'::jsonb, 'custom_fields', '{{"tier": "gold"}}'::jsonb)
FROM generate_series({start}, {stop} - 1) AS g
"""


def seed(url: str, events: int) -> None:
    have = int(
        subprocess.run(
            ["psql", url, "-tAc", f"SELECT count(*) FROM record_events WHERE tenant_id = '{TENANT}'"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    )
    if have < events:
        print(f"seeding {events - have} events …", flush=True)
        subprocess.run(["psql", url, "-qc", _SEED.format(tenant=TENANT, start=have, stop=events)], check=True)
        subprocess.run(["psql", url, "-qc", "VACUUM ANALYZE record_events"], check=True)


def consume(base: str, limit: int) -> tuple[int, float]:
    token = jwt.encode({"sub": "bench", "tenant_id": TENANT, "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
    seen, cursor = 0, None
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        started = time.perf_counter()
        while True:
            params: dict[str, str | int] = {"limit": limit}
            if cursor is not None:
                params["after"] = cursor
            page = client.get("/api/v1/crm/accounts/events", params=params).json()
            seen += len(page["data"])
            cursor = page["next_cursor"]
            if not page["data"]:
                return seen, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=200)
    args = parser.parse_args()
    ensure_database(args.database_url)
    psql_url = sa.make_url(args.database_url).render_as_string(hide_password=False)
    seed(psql_url, args.events)
    with server(args.database_url, workers=1, pool_size=4) as base:
        consume(base, args.limit)  # warm: caches, plans
        seen, seconds = consume(base, args.limit)
    print(f"feed consumer: {seen} events in {seconds:.2f} s = {seen / seconds:,.0f} events/s (limit={args.limit})")


if __name__ == "__main__":
    main()
