"""A new resource is a declaration: three fields and a table give CRUD, listing,
OpenAPI, the manifest and the security checklist, with no change to the engine.

The toy is declared here, its table created here (from the declaration, on
both databases), and it is served beside accounts by a registry of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from edm.crm.accounts.resource import ACCOUNTS
from edm.crm.engine.fields import Field, text
from edm.crm.engine.resource import Resource
from edm.crm.registry import Registry
from edm.kit.settings import database_url_for_driver
from tests.conftest import Api, assert_problem, base_settings, make_token
from tests.crm.contract import CHECKS, Checklist, cases, operations

WIDGETS = Resource(
    name="widgets",
    noun="widget",
    title="Widget",
    id_prefix="wgt",
    sdk_group="customer",
    description="Toy things customers own",
    own_fields=(
        text("label", "What it is called.", required=True, nullable=False, sortable=True, searchable=1),
        Field("size", "integer", "client", "How big it is.", filterable=True, sortable=True),
        Field("shipped_at", "date-time", "client", "When it left.", filterable=True, sortable=True),
    ),
    create_example={"label": "Sprocket", "size": 3},
    patch_example={"size": 4},
)
TOYS = Registry((ACCOUNTS, WIDGETS), sa.MetaData())
PATH = "/api/v1/crm/widgets"


# What a resource's migration adds on PostgreSQL (docs/database.md, "A new tenant table").
_PG_ROW_SECURITY = (
    "GRANT SELECT, INSERT, UPDATE, DELETE ON widgets TO edm_app",
    "ALTER TABLE widgets ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE widgets FORCE ROW LEVEL SECURITY",
    "DROP POLICY IF EXISTS widgets_tenant ON widgets",
    (
        "CREATE POLICY widgets_tenant ON widgets USING (tenant_id = NULLIF(current_setting('edm.tenant_id', true), ''))"
        " WITH CHECK (tenant_id = NULLIF(current_setting('edm.tenant_id', true), ''))"
    ),
)


def _create_table(url: str) -> None:
    async def run() -> None:
        engine = create_async_engine(database_url_for_driver(url))
        try:
            async with engine.begin() as conn:
                await conn.run_sync(lambda sync: TOYS["widgets"].tables.records.create(sync, checkfirst=True))
                if conn.dialect.name == "postgresql":
                    for statement in _PG_ROW_SECURITY:
                        await conn.execute(sa.text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture(scope="module")
def toy_servers(serve: Any, database_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    for url in database_urls.values():
        _create_table(url)
    return {
        backend: serve(base_settings(url, tmp_path_factory.mktemp(f"toy-{backend}")), TOYS)
        for backend, url in database_urls.items()
    }


@pytest.fixture
def toy(backend: str, tenant: str, toy_servers: dict[str, str]) -> Iterator[Api]:
    with httpx.Client(base_url=toy_servers[backend], timeout=30) as http:
        yield Api(http, backend, tenant, make_token(tenant))


def test_crud(toy: Api) -> None:
    created = toy.request("POST", PATH, json={"label": "Sprocket", "size": 3})
    assert created.status_code == 201, created.text
    widget = created.json()
    assert widget["id"].startswith("wgt_") and created.headers["location"] == f"{PATH}/{widget['id']}"
    assert list(widget) == [f.name for f in WIDGETS.fields]
    assert (widget["label"], widget["size"], widget["version"], widget["tenant_id"]) == ("Sprocket", 3, 1, toy.tenant)
    assert toy.request("GET", f"{PATH}/{widget['id']}").json() == widget

    updated = toy.request("PATCH", f"{PATH}/{widget['id']}", json={"size": 5}, headers={"If-Match": '"1"'})
    assert updated.status_code == 200 and updated.json()["size"] == 5 and updated.headers["etag"] == '"2"'
    assert_problem(toy.request("PATCH", f"{PATH}/{widget['id']}", json={"size": 6}, headers={"If-Match": '"1"'}), 412)
    assert_problem(toy.request("PATCH", f"{PATH}/{widget['id']}", json={"colour": "red"}), 422, "validation_error", "colour")
    assert_problem(toy.request("POST", PATH, json={"size": 1}), 422, "validation_error", "label")

    assert toy.request("DELETE", f"{PATH}/{widget['id']}").status_code == 204
    assert_problem(toy.request("GET", f"{PATH}/{widget['id']}"), 404, "not_found")
    restored = toy.request("POST", f"{PATH}/{widget['id']}/restore")
    assert restored.status_code == 200 and restored.json()["is_deleted"] is False
    admin = toy.as_(scope="crm.widgets.read crm.widgets.write crm.admin")
    assert admin.request("DELETE", f"{PATH}/{widget['id']}", params={"purge": "true"}).status_code == 204
    assert_problem(toy.request("GET", f"{PATH}/{widget['id']}"), 404)
    assert_problem(toy.request("GET", f"{PATH}/acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)  # another resource's id


def test_listing(toy: Api) -> None:
    for label, size in (("beta", 2), ("Alpha", 9), ("gamma", 5)):
        assert toy.request("POST", PATH, json={"label": label, "size": size}).status_code == 201
    page = toy.request("GET", PATH, params={"sort": "label", "limit": "2", "include_total": "true"}).json()
    assert [w["label"] for w in page["data"]] == ["Alpha", "beta"] and page["total"] == 3 and page["has_more"]
    rest = toy.request("GET", PATH, params={"sort": "label", "limit": "2", "cursor": page["next_cursor"]}).json()
    assert [w["label"] for w in rest["data"]] == ["gamma"] and rest["next_cursor"] is None
    filtered = toy.request("GET", PATH, params={"filter[size][gte]": "5", "sort": "-size", "fields": "size"}).json()
    assert filtered["data"] == [{"id": filtered["data"][0]["id"], "size": 9}, {"id": filtered["data"][1]["id"], "size": 5}]
    assert [w["label"] for w in toy.request("GET", PATH, params={"q": "AMM"}).json()["data"]] == ["gamma"]
    assert_problem(toy.request("GET", PATH, params={"filter[label][under]": "x"}), 400, "invalid_parameter")
    assert_problem(toy.request("GET", PATH, params={"sort": "name"}), 400, "invalid_parameter", "sort")


def test_accounts_still_work_beside_it(toy: Api) -> None:
    created = toy.request("POST", ACCOUNTS.path, json={"name": "Acme"})
    assert created.status_code == 201 and created.json()["id"].startswith("acc_")
    assert toy.request("GET", PATH).json()["data"] == []  # tables do not mix


def test_openapi_and_manifest_describe_it(toy: Api) -> None:
    document = toy.http.get("/api/v1/openapi.json").json()
    assert {"get", "post"} <= document["paths"][PATH].keys()
    assert {"get", "patch", "delete"} <= document["paths"][PATH + "/{widget_id}"].keys()
    assert list(document["components"]["schemas"]["Widget"]["properties"]) == [f.name for f in WIDGETS.fields]
    assert document["components"]["schemas"]["WidgetCreate"]["required"] == ["label"]
    parameters = {p["name"] for p in document["paths"][PATH]["get"]["parameters"]}
    assert {"filter[size][gte]", "filter[shipped_at][lt]", "q"} <= parameters
    manifest = toy.http.get("/api/v1/manifest").json()
    widgets = next(r for r in manifest["resources"] if r["name"] == "widgets")
    assert widgets["sdk"] == "client.customer.widgets" and widgets["id_prefix"] == "wgt"
    assert [op["name"] for op in widgets["operations"]] == [
        "list", "create", "events", "get", "update", "delete", "purge", "restore", "history"
    ]  # fmt: skip
    assert {PATH + "/events", PATH + "/{widget_id}/history"} <= document["paths"].keys()  # history and feed, for free


@pytest.mark.parametrize("operation,check", [(o, c) for r, o, c in cases(TOYS) if r == "widgets"])
def test_security_checklist(toy: Api, operation: str, check: str) -> None:
    engine = TOYS["widgets"]
    op = next(o for o in operations(TOYS, engine) if o.name == operation)
    CHECKS[check](Checklist(toy, engine), op)


def test_every_statement_filters_on_the_tenant(toy: Api, statements: list[tuple[str, object]]) -> None:
    Checklist(toy, TOYS["widgets"]).every_statement_is_tenant_scoped(statements, TOYS)
