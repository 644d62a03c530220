"""The migrated database matches the field table, and every statement is tenant-scoped."""

from __future__ import annotations

import asyncio
import re

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from edm.crm.registry import REGISTRY
from edm.kit.settings import database_url_for_driver
from tests.conftest import ACCOUNTS, Api

accounts = REGISTRY["accounts"].tables.records


def _reflect(url: str) -> dict[str, bool]:
    async def run() -> dict[str, bool]:
        engine = create_async_engine(database_url_for_driver(url))
        try:
            async with engine.connect() as conn:
                columns = await conn.run_sync(lambda c: sa.inspect(c).get_columns("accounts"))
                pk = await conn.run_sync(lambda c: sa.inspect(c).get_pk_constraint("accounts"))
        finally:
            await engine.dispose()
        assert pk["constrained_columns"] == ["tenant_id", "id"]
        return {c["name"]: c["nullable"] for c in columns}

    return asyncio.run(run())


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_schema_matches_field_table(database_urls: dict[str, str], backend: str) -> None:
    migrated = _reflect(database_urls[backend])
    expected = {c.name: c.nullable for c in accounts.columns}
    assert migrated == expected


def test_every_statement_on_accounts_filters_on_the_tenant(api: Api, statements: list[tuple[str, object]]) -> None:
    for caller in (api, api.as_(app="app-a")):
        parent = caller.created()
        record = caller.created({"name": "x", "parent_account_id": parent["id"]})
        caller.get(record["id"])
        caller.patch(record["id"], {"custom_fields": {"a": 1}, "parent_account_id": parent["id"]})
        caller.patch(record["id"], {"version": 99})
        caller.delete(record["id"])
        caller.request("GET", ACCOUNTS, params={"include_total": "true", "include_deleted": "true", "limit": "1"})  # the counters
    touching = [(s, p) for s, p in statements if re.search(r"\baccount(s|_counts)\b", s)]
    assert len(touching) >= 12 and any("account_counts" in s for s, _ in touching)
    for statement, parameters in touching:
        if statement.lstrip().upper().startswith("INSERT"):
            assert api.tenant in str(parameters), statement
            continue
        assert "tenant_id" in statement.split("WHERE", 1)[-1], statement
        assert api.tenant in str(parameters), (statement, parameters)


@pytest.mark.postgres
def test_accounts_autovacuum_keeps_up_with_a_big_table(database_urls: dict[str, str]) -> None:
    """Counts stay index-only only while vacuum keeps the visibility map fresh (see the migration)."""

    async def run() -> list[str]:
        engine = create_async_engine(database_url_for_driver(database_urls["postgresql"]))
        try:
            async with engine.connect() as conn:
                return (await conn.execute(sa.text("SELECT reloptions FROM pg_class WHERE relname = 'accounts'"))).scalar_one()
        finally:
            await engine.dispose()

    assert set(asyncio.run(run())) == {
        "autovacuum_vacuum_scale_factor=0.02",
        "autovacuum_vacuum_insert_scale_factor=0.02",
        "autovacuum_analyze_scale_factor=0.02",
    }


@pytest.mark.postgres
def test_postgresql_has_exactly_the_declared_indexes(database_urls: dict[str, str]) -> None:
    """The declaration's indexes are the migrated ones: names, key columns, partial and GIN alike."""

    async def run() -> dict[str, str]:
        engine = create_async_engine(database_url_for_driver(database_urls["postgresql"]))
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'accounts'"))
                return dict(rows.all())
        finally:
            await engine.dispose()

    migrated = asyncio.run(run())
    declared = {index.name: index for index in REGISTRY["accounts"].resource.indexes}
    assert set(migrated) == {*declared, "accounts_pkey"}
    for name, index in declared.items():
        definition = migrated[name]
        assert ("USING gin" in definition) == index.gin, definition
        assert definition.endswith("WHERE (NOT is_deleted)") == index.live_only, definition
        if "search" in index.columns:
            # each searched field spelled CASE, not COALESCE, which row security counts as leaky (migration 1610)
            assert "gin_trgm_ops, tenant_id)" in definition and "COALESCE" not in definition, definition
            assert all(f"WHEN ({field} IS NULL)" in definition for field in REGISTRY["accounts"].resource.searched), definition
            continue
        keys = definition.split(" (", 1)[1].split(")", 1)[0].replace(" jsonb_path_ops", "")
        assert tuple(keys.split(", ")) == index.columns, definition
