"""HTTP-level behaviour shared by every route: request ids, problem+json, health."""

from __future__ import annotations

import httpx

from tests.conftest import ACCOUNTS, Api, assert_problem


def test_every_response_carries_a_request_id(api: Api) -> None:
    responses = [
        api.create(),
        api.get("acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        api.http.get(ACCOUNTS + "/x"),
        api.http.get("/healthz"),
        api.http.get("/no/such/route"),
        api.request("PUT", ACCOUNTS + "/acc_01ARZ3NDEKTSV4RRFFQ69G5FAV", json={}),
    ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(ids) and len(set(ids)) == len(ids)


def test_a_sane_client_request_id_is_kept_and_a_hostile_one_replaced(api: Api) -> None:
    kept = api.get("acc_01ARZ3NDEKTSV4RRFFQ69G5FAV", headers={"X-Request-Id": "trace-123.abc"})
    assert kept.headers["x-request-id"] == "trace-123.abc" and kept.json()["request_id"] == "trace-123.abc"
    replaced = api.get("acc_01ARZ3NDEKTSV4RRFFQ69G5FAV", headers={"X-Request-Id": "x" * 500})
    assert replaced.headers["x-request-id"] != "x" * 500


def test_unknown_route_and_method_are_problems(api: Api) -> None:
    assert_problem(api.http.get("/api/v1/crm/nothing"), 404, "not_found")
    response = api.request("PUT", ACCOUNTS + "/acc_01ARZ3NDEKTSV4RRFFQ69G5FAV", json={})
    assert_problem(response, 405, "method_not_allowed")
    assert "PATCH" in response.headers["allow"]


def test_malformed_if_match_is_400_naming_the_header(api: Api) -> None:
    record = api.created()
    response = api.patch(record["id"], {"name": "x"}, headers={"If-Match": "3"})
    assert_problem(response, 400, field="If-Match")
    assert api.get(record["id"]).json()["version"] == 1


def test_health_and_readiness(api: Api) -> None:
    assert api.http.get("/healthz").json() == {"status": "ok"}
    ready = api.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == api.backend


def test_openapi_describes_the_account_from_the_field_table(api: Api) -> None:
    from edm.crm.accounts.resource import ACCOUNTS as RESOURCE

    FIELDS, CLIENT_FIELDS = RESOURCE.fields, RESOURCE.client_fields

    document = httpx.get(str(api.http.base_url) + "/api/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert list(schemas["Account"]["properties"]) == [f.name for f in FIELDS]
    assert set(schemas["AccountCreate"]["properties"]) == {f.name for f in CLIENT_FIELDS}
    assert schemas["AccountCreate"]["required"] == ["name"]
    assert {"post"} <= document["paths"][ACCOUNTS].keys()
    assert {"get", "patch", "delete"} <= document["paths"][ACCOUNTS + "/{account_id}"].keys()


def test_an_unreachable_database_is_503_not_500(serve, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import base_settings, make_token

    url = serve(base_settings("postgresql://postgres@127.0.0.1:1/nowhere", tmp_path))
    headers = {"Authorization": f"Bearer {make_token('t1')}"}
    created = httpx.post(url + ACCOUNTS, json={"name": "x"}, headers=headers)
    body = assert_problem(created, 503, "database_unavailable")
    assert created.headers["retry-after"] == "1" and "asyncpg" not in str(body)
    assert_problem(httpx.get(url + "/readyz"), 503, "database_unavailable")
    assert httpx.get(url + "/healthz").status_code == 200


def test_405_names_the_allowed_methods_on_every_route(api: Api) -> None:
    for path, allowed in (("/api/v1/openapi.json", "GET"), ("/metrics", "GET"), ("/api/v1/manifest", "GET")):
        response = api.http.post(path)
        assert_problem(response, 405, "method_not_allowed")
        assert allowed in response.headers["allow"]


def test_tenant_data_is_never_stored_by_caches(api: Api) -> None:
    record = api.created()
    answers = [
        api.create(),
        api.get(record["id"]),
        api.get(record["id"], headers={"If-None-Match": f'"{record["version"]}"'}),
        api.request("GET", ACCOUNTS),
        api.patch(record["id"], {"industry": "x"}),
        api.get("acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        api.http.get(ACCOUNTS),  # 401
        api.request("PUT", ACCOUNTS),  # 405
        api.delete(record["id"]),
    ]
    assert [r.headers.get("cache-control") for r in answers] == ["no-store"] * len(answers)
    assert api.http.get("/docs/assets/favicon.png").headers["cache-control"].startswith("public")
    assert "cache-control" not in api.http.get("/api/v1/openapi.json").headers


def test_a_patch_in_another_media_type_is_415_naming_the_accepted_ones(api: Api) -> None:
    record = api.created()
    response = api.request("PATCH", f"{ACCOUNTS}/{record['id']}", content=b"name=x", headers={"Content-Type": "text/plain"})
    assert_problem(response, 415, "unsupported_media_type")
    assert response.headers["accept-patch"] == "application/json, application/merge-patch+json"
    created = api.request("POST", ACCOUNTS, content=b"name=x", headers={"Content-Type": "text/plain"})
    assert_problem(created, 415, "unsupported_media_type")
    assert "accept-patch" not in created.headers
