"""PostgreSQL through asyncpg directly (``edm.kit.pg``), against the real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from edm.crm.registry import REGISTRY
from edm.kit.db import Database, fetch_first
from tests.conftest import ACCOUNTS, Api, base_settings

accounts = REGISTRY["accounts"].tables.records

_c = accounts.c


def _run(database_url: str, tmp_path: Path, work: Any) -> Any:
    async def main() -> Any:
        db = Database(base_settings(database_url, tmp_path))
        try:
            async with db.read() as conn:
                return await work(conn)
        finally:
            await db.dispose()

    return asyncio.run(main())


@pytest.mark.postgres
def test_a_named_statement_with_an_unnamed_parameter_is_refused(database_urls: dict[str, str], tmp_path: Path) -> None:
    """Its first value would be frozen into every later call: another tenant's, say."""

    def build() -> sa.Select[Any]:
        return sa.select(_c.id).where(_c.tenant_id == "tenant-a", _c.id == sa.bindparam("account_id", "x"))

    async def work(conn: Any) -> Any:
        return await fetch_first(conn, ("test", "unnamed"), {"account_id": "x"}, build)

    with pytest.raises(RuntimeError, match="not passed by name"):
        _run(database_urls["postgresql"], tmp_path, work)


@pytest.mark.postgres
def test_a_named_statement_takes_new_values_on_every_call(database_urls: dict[str, str], tmp_path: Path) -> None:
    def build(tenant: str) -> Any:
        return lambda: sa.select(sa.bindparam("tenant_id", tenant, type_=sa.Text).label("tenant"))

    async def work(conn: Any) -> list[str]:
        rows = [await fetch_first(conn, ("test", "named"), {"tenant_id": t}, build(t)) for t in ("t1", "t2", "t3")]
        return [row["tenant"] for row in rows]

    assert _run(database_urls["postgresql"], tmp_path, work) == ["t1", "t2", "t3"]


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z", "1970-01-01T00:00:00.000Z"])
def test_extreme_instants_round_trip_in_records_and_pages(api: Api, instant: str) -> None:
    """asyncpg's own codec stores 0001-01-01T00:00:00Z as -infinity, which renders as null."""
    record = api.created({"name": "Edge of time", "last_activity_at": instant})
    assert record["last_activity_at"] == instant
    assert api.get(record["id"]).json()["last_activity_at"] == instant
    params = {"filter[last_activity_at][lte]": instant, "filter[name]": "Edge of time"}
    page = api.request("GET", ACCOUNTS, params=params).json()
    assert [r["last_activity_at"] for r in page["data"] if r["id"] == record["id"]] == [instant]


@pytest.mark.postgres
def test_timestamps_decode_as_aware_utc(database_urls: dict[str, str], tmp_path: Path) -> None:
    async def work(conn: Any) -> Any:
        return (await conn.execute(sa.select(sa.literal(datetime(1, 1, 1, tzinfo=UTC), _c.created_at.type)))).scalar()

    assert _run(database_urls["postgresql"], tmp_path, work) == datetime(1, 1, 1, tzinfo=UTC)
