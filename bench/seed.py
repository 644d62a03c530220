"""Seed PostgreSQL with synthetic accounts through COPY.

``python -m bench.seed --database-url postgresql://… [--big 1000000] [--tenants 99] [--per-tenant 10000]``
loads one big tenant (``bench-big``) and many small ones (``bench-small-N``),
then VACUUM ANALYZE.  Also used by the plan tests with small numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from ulid import ULID

INDUSTRIES = ("Software", "Retail", "Manufacturing", "Finance", "Healthcare", "Energy", "Media", "Logistics")
STAGES = ("lead", "prospect", "customer", "churned", "partner")
TAGS = ("b2b", "b2c", "enterprise", "smb", "emea", "apac", "amer", "priority", "partner", "trial")
WORDS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "cyberdyne", "tyrell", "soylent", "aperture")
OWNERS = tuple(f"usr-{uuid.UUID(int=n)}" for n in range(1, 51))
COLUMNS = (
    "id", "tenant_id", "app_id", "created_at", "updated_at", "created_by", "updated_by", "source", "source_type",
    "is_deleted", "schema_version", "owner_id", "name", "name_key", "legal_name", "industry", "lifecycle_stage",
    "domain", "website", "description", "addresses", "annual_revenue", "employee_count", "last_activity_at",
    "custom_fields", "tags", "version",
)  # fmt: skip
START = datetime(2023, 1, 1, tzinfo=UTC)


def records(tenant: str, count: int, seed: int = 1) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(f"{tenant}:{seed}")
    for n in range(count):
        created = START + timedelta(seconds=n * 30 + rng.randint(0, 29), milliseconds=rng.randint(0, 999))
        account_id = f"acc_{ULID.from_timestamp(created.timestamp())}"
        word = rng.choice(WORDS)
        name = f"{word.title()} {rng.choice(INDUSTRIES)} {n}"
        revenue = None if n % 17 == 0 else float(rng.randint(0, 5_000_000))
        yield (
            account_id, tenant, None, created, created, "seed", "seed", "bench", "system",
            n % 97 == 0, 1, rng.choice(OWNERS), name, name.casefold(), f"{name} Ltd", rng.choice(INDUSTRIES),
            rng.choice(STAGES), f"{word}{n}.example", f"https://{word}{n}.example", f"{word} account number {n} {uuid.uuid4().hex[:8]}",
            "[]", revenue, rng.randint(1, 20_000), None if n % 5 == 0 else created + timedelta(days=rng.randint(0, 300)),
            orjson.dumps({"tier": rng.choice(("gold", "silver", "bronze")), "seats": rng.randint(1, 500)}).decode(),
            orjson.dumps(sorted(set(rng.sample(TAGS, 2)))).decode(), 1,
        )  # fmt: skip


async def seed(url: str, tenants: dict[str, int]) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for tenant, count in tenants.items():
            await conn.execute("DELETE FROM accounts WHERE tenant_id = $1", tenant)
            await conn.copy_records_to_table("accounts", records=records(tenant, count), columns=COLUMNS)
        await conn.execute("VACUUM ANALYZE accounts")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=99)
    parser.add_argument("--per-tenant", type=int, default=10_000)
    args = parser.parse_args()
    tenants = {"bench-big": args.big, **{f"bench-small-{n}": args.per_tenant for n in range(args.tenants)}}
    started = time.monotonic()
    asyncio.run(seed(args.database_url, tenants))
    print(f"seeded {sum(tenants.values()):,} accounts in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
