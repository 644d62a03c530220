"""NATS publishing throughput: ``python -m bench.nats [--events 50000] [--tenants 20] [--nats-url URL]``.

Fills ``record_events`` of a fresh database (``edm_bench_nats``, dropped and
made anew) with ``--events`` events spread over ``--tenants`` tenants, as if
written by 2,000-event bursts, then times one publisher (``edm.kit.nats``)
draining the whole table into a new JetStream stream: events/s from the first
read to the last saved position, JetStream acked every one.  Run once with the
events of one tenant too (``--tenants 1``): its events are published one
after another, each after the previous ack, so that is the slow case.  The
issue's bar is 1,000 writes/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time
import uuid

import nats
import sqlalchemy as sa

from bench.common import DEFAULT_URL, SECRET, create_database
from edm.kit.migrate import upgrade
from edm.kit.nats import NatsPublisher
from edm.kit.settings import Settings

DATABASE = "edm_bench_nats"

_FILL = """
INSERT INTO record_events (id, tenant_id, resource, record_id, version, type, at, "by", data)
SELECT 'evt_' || lpad(n::text, 12, '0'), 'bench-' || (n % {tenants}), 'accounts', 'acc_' || (n % 5000),
       n, 'account.updated', now(), 'bench',
       jsonb_build_object('id', 'acc_' || (n % 5000), 'name', 'Account ' || n, 'domain', 'a' || n || '.example',
                          'tags', jsonb_build_array('bench'), 'version', n)
FROM generate_series({first}, {last}) AS n
"""


def _fresh_database(server_url: str) -> str:
    url = sa.make_url(server_url).set(database=DATABASE).render_as_string(hide_password=False)
    admin = sa.make_url(server_url).set(database="postgres").render_as_string(hide_password=False)
    subprocess.run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'], check=True)
    create_database(url, DATABASE)
    upgrade(Settings(database_url=url, jwt_secret=SECRET))
    return url


def _fill(url: str, events: int, tenants: int) -> None:
    admin = sa.make_url(url).render_as_string(hide_password=False)
    for first in range(1, events + 1, 2_000):  # one transaction per burst, as writers would commit
        sql = _FILL.format(tenants=tenants, first=first, last=min(first + 1_999, events))
        subprocess.run(["psql", admin, "-qc", sql], check=True)


async def _publish(settings: Settings) -> tuple[int, float]:
    publisher = NatsPublisher(settings)
    started = time.perf_counter()
    published = 0
    try:
        while (progress := await publisher.run_once()).published:
            published += progress.published
        return published, time.perf_counter() - started
    finally:
        await publisher.stop()
        client = await nats.connect(settings.nats_url or "")
        await client.jetstream().delete_stream(settings.nats_stream)
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL, help="a PostgreSQL server (its database is not used)")
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--tenants", type=int, default=20)
    args = parser.parse_args()
    url = _fresh_database(args.database_url)
    _fill(url, args.events, args.tenants)
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(
        database_url=url, jwt_secret=SECRET, nats_url=args.nats_url,
        nats_stream=f"EDMBENCH_{suffix}", nats_subject_prefix=f"edmbench{suffix}",
    )  # fmt: skip
    published, seconds = asyncio.run(_publish(settings))
    result = {"events": published, "tenants": args.tenants, "seconds": round(seconds, 2),
              "events_per_s": round(published / seconds)}  # fmt: skip
    print(json.dumps(result))
    admin = sa.make_url(url).set(database="postgres").render_as_string(hide_password=False)
    subprocess.run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'], check=True)


if __name__ == "__main__":
    main()
