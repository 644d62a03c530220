"""The security checklist for every operation: anonymous 401, missing scope
403, other tenant 404, other app 404 — and the app stamping rules of SPEC §2."""

from __future__ import annotations

from collections.abc import Callable
import httpx
import pytest
from tests.conftest import ACCOUNTS, Api, assert_problem

Operation = Callable[[Api, str], httpx.Response]

OPERATIONS: dict[str, tuple[str, Operation]] = {
    "create": ("crm.accounts.write", lambda api, _id: api.create({"name": "Intruder"})),
    "get": ("crm.accounts.read", lambda api, id_: api.get(id_)),
    "update": ("crm.accounts.write", lambda api, id_: api.patch(id_, {"name": "Hijacked"})),
    "delete": ("crm.accounts.write", lambda api, id_: api.delete(id_)),
}
BY_ID = [name for name in OPERATIONS if name != "create"]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_anonymous_is_401(api: Api, operation: str) -> None:
    record = api.created()
    method, path = {
        "create": ("POST", ACCOUNTS),
        "get": ("GET", f"{ACCOUNTS}/{record['id']}"),
        "update": ("PATCH", f"{ACCOUNTS}/{record['id']}"),
        "delete": ("DELETE", f"{ACCOUNTS}/{record['id']}"),
    }[operation]
    response = api.http.request(method, path, json={"name": "x"})
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert api.get(record["id"]).json() == record


@pytest.mark.parametrize("operation", OPERATIONS)
def test_missing_scope_is_403(api: Api, operation: str) -> None:
    needed, call = OPERATIONS[operation]
    record = api.created()
    other_scope = "crm.accounts.read" if needed == "crm.accounts.write" else "crm.accounts.write"
    response = call(api.as_(scope=f"{other_scope} crm.contacts.read"), record["id"])
    assert_problem(response, 403, "forbidden")
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert call(api.as_(scope=needed), record["id"]).status_code < 300
    assert call(api.as_(scope=f"other {needed}"), record["id"]).status_code in (200, 201, 204, 404)


@pytest.mark.parametrize("operation", BY_ID)
def test_other_tenant_is_404_exactly_like_a_missing_record(api: Api, operation: str) -> None:
    _, call = OPERATIONS[operation]
    record = api.created({"name": "Secret"})
    intruder = api.as_(tenant=api.tenant + "-other")
    response = call(intruder, record["id"])
    body = assert_problem(response, 404, "not_found")
    missing = assert_problem(call(intruder, "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404, "not_found")
    assert {k: v for k, v in body.items() if k != "request_id"} == {k: v for k, v in missing.items() if k != "request_id"}
    assert "Secret" not in response.text
    assert api.get(record["id"]).json() == record


@pytest.mark.parametrize("operation", BY_ID)
def test_other_app_is_404(api: Api, operation: str) -> None:
    _, call = OPERATIONS[operation]
    owner_app = api.as_(app="app-a")
    record = owner_app.created({"name": "App A's"})
    response = call(api.as_(app="app-b"), record["id"])
    assert_problem(response, 404, "not_found")
    assert owner_app.get(record["id"]).json() == record


@pytest.mark.parametrize("operation", BY_ID)
def test_app_cannot_reach_human_records(api: Api, operation: str) -> None:
    _, call = OPERATIONS[operation]
    record = api.created({"name": "Human's"})
    assert_problem(call(api.as_(app="app-a"), record["id"]), 404, "not_found")
    assert api.get(record["id"]).json() == record


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
