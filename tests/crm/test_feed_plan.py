"""The PostgreSQL change feed reads its pages in index order: ``ORDER BY txid, seq``
on the transaction id itself (an ``xid8``), walked along ``record_events_feed``
with no sort, on a tenant with many events spread over many transactions.

A feed that ordered by the text rendering of the transaction id would sort
every event of the tenant per page (a Sort node), and order ``"10" < "9"``
wrongly once the ids cross a power of ten.  Explained as the server runs it:
the app role, bound to the tenant, under row security.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import sqlalchemy as sa

from edm.crm.engine import history
from edm.kit.db import Database
from edm.kit.pg import PgConnection, StatementCache
from edm.kit.settings import Settings
from tests.conftest import SECRET

pytestmark = pytest.mark.postgres
TENANT, BATCHES, PER_BATCH = "feed-plan-big", 40, 500  # 20,000 events of the tenant, 20,000 of 20 others


def _nodes(plan: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(plan, dict):
        if "Node Type" in plan:
            found.append(plan)
        for value in plan.values():
            found += _nodes(value)
    elif isinstance(plan, list):
        for item in plan:
            found += _nodes(item)
    return found


@pytest.fixture(scope="module")
def feed_db(database_urls: dict[str, str]) -> str:
    url = database_urls["postgresql"]
    import asyncpg

    async def seed() -> None:
        conn = await asyncpg.connect(url)  # the owner: a superuser in the test setup, past row security
        try:
            for batch in range(BATCHES):  # one transaction each: many transaction ids
                for tenant in (TENANT, f"feed-plan-other-{batch % 20}"):  # and other tenants' events between
                    await conn.execute(
                        "INSERT INTO record_events (id, tenant_id, resource, record_id, version, type, at, by, data)"
                        " SELECT 'evt_plan_' || $2 || '_' || $1::int || '_' || n, $2, 'accounts', 'acc_' || n, 1,"
                        " 'account.created', now(), 'seed', '{}' FROM generate_series(1, $3::int) AS n",
                        batch, tenant, PER_BATCH,
                    )  # fmt: skip
            await conn.execute("VACUUM ANALYZE record_events")
        finally:
            await conn.close()

    asyncio.run(seed())
    return url


async def _explain(url: str, tenant: str, after: tuple[str, int]) -> tuple[str, list[dict[str, Any]]]:
    db = Database(Settings(database_url=url, jwt_secret=SECRET))
    try:
        async with db.read(tenant) as conn:
            assert isinstance(conn, PgConnection)
            confined = "SELECT NOT (rolsuper OR rolbypassrls) FROM pg_roles WHERE rolname = current_user"
            assert await conn.raw.fetchval(confined), "explained under row security, as the server runs"
            statement = sa.text(history._PG_FEED.format(app="")).bindparams(
                tenant_id=tenant, resource="accounts", after_txid=after[0], after_seq=after[1], limit=201
            )
            sql, args, _ = StatementCache().for_statement(statement)
            plan = await conn.raw.fetchval("EXPLAIN (FORMAT JSON) " + sql, *args)
            return sql, _nodes(json.loads(plan) if isinstance(plan, str) else plan)
    finally:
        await db.dispose()


@pytest.mark.parametrize("page", ["first", "middle"])
@pytest.mark.parametrize("tenant", [TENANT, "feed-plan-other-3"])
def test_the_feed_walks_an_index_in_transaction_order_without_sorting(feed_db: str, tenant: str, page: str) -> None:
    after = ("0", 0)
    if page == "middle":

        async def middle() -> tuple[str, int]:
            import asyncpg

            conn = await asyncpg.connect(feed_db)
            try:
                row = await conn.fetchrow(
                    "SELECT txid::text AS txid, seq FROM record_events WHERE tenant_id = $1 ORDER BY txid, seq"
                    " OFFSET (SELECT count(*) / 2 FROM record_events WHERE tenant_id = $1) LIMIT 1", tenant,
                )  # fmt: skip
                return row["txid"], row["seq"]
            finally:
                await conn.close()

        after = asyncio.run(middle())
    sql, nodes = asyncio.run(_explain(feed_db, tenant, after))
    assert "ORDER BY record_events.txid, record_events.seq" in sql
    assert [n["Node Type"] for n in nodes if "Sort" in n["Node Type"]] == [], nodes
    scans = [(n["Node Type"], n.get("Index Name")) for n in nodes if n.get("Relation Name") == "record_events"]
    # Half of all events are the big tenant's: walking the (txid, seq) index of every tenant's events and
    # skipping the others' is as cheap; a tenant with few of them walks its own part of the feed index.
    expected = ("record_events_feed", "record_events_all") if tenant == TENANT else ("record_events_feed",)
    assert len(scans) == 1 and scans[0][0] == "Index Scan" and scans[0][1] in expected, scans
