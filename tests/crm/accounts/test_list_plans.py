"""PostgreSQL plans for the list queries the benchmark measures: no sequential
scan of accounts, on a skewed data set (one big tenant among many small ones),
with enable_seqscan left on.

Plans are explained on a connection set up as the server's (the app role,
bound to the tenant): row-level security changes which predicates may be
index conditions (docs/database.md).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bench.seed import records
from edm.crm.registry import REGISTRY
from edm.kit.auth import TokenVerifier
from edm.kit.db import Database
from edm.kit.pg import PgConnection, StatementCache
from edm.kit.settings import Settings
from tests.conftest import ACCOUNTS, SECRET, make_token

pytestmark = pytest.mark.postgres
ENGINE = REGISTRY["accounts"]
repository = ENGINE.repository
sort_values = ENGINE.sql.sort_values
parse_list_query = ENGINE.grammar.parse

BIG, SMALL, SMALL_TENANTS = "plan-big", 200, 60
QUERIES = {
    "first page, default sort": [],
    "three filters + sort": [("filter[industry]", "Software"), ("filter[lifecycle_stage]", "customer"), ("filter[owner_id]", "usr-00000000-0000-0000-0000-000000000007"), ("sort", "-updated_at")],
    "name sort": [("sort", "name")],
    "q selective": [("q", "number 1234 ")],
    "q broad": [("q", "acme")],
    "tags any": [("filter[tags][any]", "priority,trial")],
    "custom field": [("filter[custom_fields.tier]", "gold")],
    "domain": [("filter[domain]", "acme42.example")],
    "children": [("filter[parent_account_id]", "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV")],
    "stage, deleted too": [("filter[lifecycle_stage]", "customer"), ("include_deleted", "true")],
}


def _scans(plan: Any, relation: str | None = "accounts") -> list[tuple[str, str]]:
    """The plan's scans of ``relation``; with None, the scans of an index that name no relation (bitmap index scans)."""
    found = []
    if isinstance(plan, dict):
        if plan.get("Relation Name") == relation and (relation is not None or "Index Name" in plan):
            found.append((plan["Node Type"], plan.get("Index Name", "")))
        for value in plan.values():
            found += _scans(value, relation)
    elif isinstance(plan, list):
        for item in plan:
            found += _scans(item, relation)
    return found


@pytest.fixture(scope="module")
def plan_db(database_urls: dict[str, str]) -> str:
    postgres_url = database_urls["postgresql"]
    import asyncpg

    async def seed() -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            from bench.seed import COLUMNS

            tenants = {BIG: 20_000, **{f"plan-small-{n}": SMALL for n in range(SMALL_TENANTS)}}
            for tenant, count in tenants.items():
                await conn.copy_records_to_table("accounts", records=records(tenant, count), columns=COLUMNS)
            await conn.execute("VACUUM ANALYZE accounts")
        finally:
            await conn.close()

    asyncio.run(seed())
    return postgres_url


async def _plan(conn: PgConnection, statement: sa.ClauseElement, relation: str | None) -> list[tuple[str, str]]:
    confined = "SELECT NOT (rolsuper OR rolbypassrls) FROM pg_roles WHERE rolname = current_user"
    assert await conn.raw.fetchval(confined), "plans must be explained under row security, as the server runs"
    sql, args, _ = StatementCache().for_statement(statement)
    plan = await conn.raw.fetchval("EXPLAIN (FORMAT JSON) " + sql, *args)
    return _scans(json.loads(plan) if isinstance(plan, str) else plan, relation)


async def _explain(
    url: str, tenant: str, params: list[tuple[str, str]], *, total: bool, page: int, relation: str | None = "accounts"
) -> list[tuple[str, str]]:
    settings = Settings(database_url=url, jwt_secret=SECRET)
    caller = await TokenVerifier(settings).verify(make_token(tenant))
    query = parse_list_query(params)
    db = Database(settings)
    try:
        async with db.read(tenant) as conn:
            assert isinstance(conn, PgConnection)
            cursor_values = None
            for _ in range(page - 1):  # walk to the page for real, then explain it
                rows = (await conn.execute(repository.list_statement(caller, query, cursor_values, "postgresql"))).all()
                cursor_values = sort_values(query.sort, rows[query.limit - 1])
            statement = repository.count_statement(caller, query, "postgresql") if total else repository.list_statement(caller, query, cursor_values, "postgresql")
            return await _plan(conn, statement, relation)
    finally:
        await db.dispose()


@pytest.mark.parametrize("name", QUERIES)
@pytest.mark.parametrize("tenant", [BIG, "plan-small-3"])
def test_list_queries_use_indexes(plan_db: str, name: str, tenant: str) -> None:
    scans = asyncio.run(_explain(plan_db, tenant, QUERIES[name], total=False, page=1))
    assert scans and all(node != "Seq Scan" for node, _ in scans), scans


def test_a_deep_page_seeks_instead_of_scanning(plan_db: str) -> None:
    scans = asyncio.run(_explain(plan_db, BIG, [("limit", "50")], total=False, page=20))
    assert scans == [("Index Scan Backward", "accounts_tenant_created_at")] or all(n != "Seq Scan" for n, _ in scans), scans


@pytest.mark.parametrize("tenant", [BIG, "plan-small-3"])
@pytest.mark.parametrize("include_deleted", ["false", "true"])
def test_unfiltered_totals_read_the_counters_not_the_rows(plan_db: str, tenant: str, include_deleted: str) -> None:
    params = [("include_total", "true"), ("include_deleted", include_deleted)]
    assert asyncio.run(_explain(plan_db, tenant, params, total=True, page=1)) == []
    assert asyncio.run(_explain(plan_db, tenant, params, total=True, page=1, relation="account_counts"))


# Selective predicates only a GIN index answers.  Under row-level security their
# operators must be LEAKPROOF (and the search expression free of COALESCE) for
# the index to be used at all (migrations 1600 and 1610).
GIN_QUERIES = {
    "q selective": ("accounts_search_tenant", QUERIES["q selective"]),
    "q selective, name sort": ("accounts_search_tenant", [*QUERIES["q selective"], ("sort", "name")]),
    "custom field, rare value": ("accounts_tenant_custom_fields", [("filter[custom_fields.seats]", "7")]),
    "tags, rare combination": ("accounts_tenant_tags", [("filter[tags][all]", "priority,trial,emea")]),
}


@pytest.mark.parametrize("name", GIN_QUERIES)
def test_selective_search_tag_and_custom_field_filters_in_a_big_tenant_read_their_gin_index(plan_db: str, name: str) -> None:
    index, params = GIN_QUERIES[name]
    bitmap = asyncio.run(_explain(plan_db, BIG, params, total=False, page=1, relation=None))
    assert ("Bitmap Index Scan", index) in bitmap, bitmap


def test_a_selective_search_total_in_a_big_tenant_reads_the_trigram_index(plan_db: str) -> None:
    params = [*QUERIES["q selective"], ("include_total", "true")]
    bitmap = asyncio.run(_explain(plan_db, BIG, params, total=True, page=1, relation=None))
    assert ("Bitmap Index Scan", "accounts_search_tenant") in bitmap, bitmap


@pytest.mark.parametrize("column, value", [("lifecycle_stage", "customer"), ("industry", "Software")])
def test_a_total_filtered_on_one_column_reads_only_its_index(plan_db: str, column: str, value: str) -> None:
    params = [(f"filter[{column}]", value), ("include_total", "true")]
    scans = asyncio.run(_explain(plan_db, BIG, params, total=True, page=1))
    assert scans == [("Index Only Scan", f"accounts_tenant_{column}_live")], scans


@pytest.mark.parametrize("tenant", [BIG, "plan-small-3"])
@pytest.mark.parametrize("name", ["three filters + sort", "q broad", "tags any"])
def test_filtered_totals_count_through_an_index(plan_db: str, tenant: str, name: str) -> None:
    scans = asyncio.run(_explain(plan_db, tenant, [*QUERIES[name], ("include_total", "true")], total=True, page=1))
    assert scans and all(node != "Seq Scan" for node, _ in scans), scans


def test_point_lookups_use_the_primary_key_for_a_tenant_missing_from_statistics(plan_db: str) -> None:
    """A tenant loaded after the last ANALYZE: statistics call it tiny, and the
    partial index on live rows looks as cheap as the primary key."""
    import asyncpg

    from bench.seed import COLUMNS

    async def run() -> list[tuple[str, str]]:
        conn = await asyncpg.connect(plan_db)
        try:
            await conn.copy_records_to_table("accounts", records=records("plan-new", 30_000), columns=COLUMNS)
            account_id = await conn.fetchval("SELECT id FROM accounts WHERE tenant_id = 'plan-new' LIMIT 1")
        finally:
            await conn.close()
        settings = Settings(database_url=plan_db, jwt_secret=SECRET)
        caller = await TokenVerifier(settings).verify(make_token("plan-new"))
        db = Database(settings)
        try:
            async with db.read("plan-new") as pg:
                assert isinstance(pg, PgConnection)
                return await _plan(pg, repository.get_statement(caller, account_id), "accounts")
        finally:
            await db.dispose()

    assert asyncio.run(run()) == [("Index Scan", "accounts_pkey")]


def test_long_custom_field_lists_are_one_parameter_each_whatever_their_length(http_clients: dict[str, httpx.Client]) -> None:
    """Each custom-field list is one jsonpath parameter, which the GIN index can answer in one scan.
    As ``@> ANY(array)`` the bitmap scan walked every combination of the lists' array keys (600³
    for three lists: the statement timeout, a 503); as an OR of containments, one list of 100 took
    3.5 s on 100k rows. How fast it is, is the benchmark's business (bench.list); here, the shape."""
    hundred = ",".join(str(n) for n in range(100))
    params = [(f"filter[custom_fields.{key}][in]", hundred) for key in ("seats", "k1", "k2")]
    response = http_clients["postgresql"].get(ACCOUNTS, params=params, headers={"Authorization": f"Bearer {make_token(BIG)}"})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == []  # no record has k1 or k2

    caller = asyncio.run(TokenVerifier(Settings(jwt_secret=SECRET)).verify(make_token(BIG)))
    shapes = []
    for lists in (1, 3):
        statement = repository.list_statement(caller, parse_list_query(params[:lists]), None, "postgresql")
        sql, args, _ = StatementCache().for_statement(statement)
        shapes.append((sql.count("@?"), len(args)))
    (paths_1, args_1), (paths_3, args_3) = shapes
    assert (paths_1, paths_3) == (1, 3), shapes
    assert args_3 - args_1 == 2, shapes  # one jsonpath parameter per list, not one per value
