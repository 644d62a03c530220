"""Account-specific isolation rules: app stamping, server-owned scope fields,
parents the caller can see, and error bodies that leak nothing.  The security
checklist of every operation (anonymous 401, missing scope 403, other tenant
404, other app 404) runs for every resource in ``tests/crm/test_contract.py``."""

from __future__ import annotations

from tests.conftest import Api, assert_problem


def test_app_creates_are_stamped_and_humans_see_them(api: Api) -> None:
    record = api.as_(app="app-a", scope="crm.accounts.write crm.accounts.read").created({"name": "Via app"})
    assert record["app_id"] == "app-a"
    seen = api.get(record["id"])
    assert seen.status_code == 200 and seen.json()["app_id"] == "app-a"


def test_human_writes_never_change_app_id(api: Api) -> None:
    record = api.as_(app="app-a").created()
    updated = api.patch(record["id"], {"industry": "x"}).json()
    assert updated["app_id"] == "app-a"
    assert_problem(api.patch(record["id"], {"app_id": None}), 422, "validation_error", "app_id")
    assert api.as_(app="app-a").get(record["id"]).status_code == 200


def test_tenant_id_cannot_be_chosen_by_the_body(api: Api) -> None:
    assert_problem(api.create({"name": "x", "tenant_id": "victim"}), 422, "validation_error", "tenant_id")


def test_parent_must_be_visible_to_the_caller(api: Api) -> None:
    foreign = api.as_(tenant=api.tenant + "-other").created()
    other_app = api.as_(app="app-b").created()
    app_a = api.as_(app="app-a")
    for parent in (foreign["id"], other_app["id"]):
        assert_problem(app_a.create({"name": "child", "parent_account_id": parent}), 422, "validation_error", "parent_account_id")
    human_child = api.created({"name": "human child", "parent_account_id": other_app["id"]})
    assert human_child["parent_account_id"] == other_app["id"]


def test_error_bodies_never_leak_internals(api: Api) -> None:
    response = api.create({"name": "x", "annual_revenue": "DROP TABLE accounts"})
    text = response.text.lower()
    for leak in ("traceback", "select ", "sqlalchemy", "asyncpg", "sqlite", "insert into"):
        assert leak not in text
