"""Managing webhook endpoints: admin only, per tenant, validated, SSRF-guarded (the suite's main servers)."""

from __future__ import annotations

import pytest

from tests.conftest import Api, assert_problem
from tests.webhooks.harness import ADMIN, WEBHOOKS

PUBLIC = "https://93.184.215.14/hook"  # a public address literal: no DNS needed


def subscribe(api: Api, body: dict[str, object]):  # type: ignore[no-untyped-def]
    return api.as_(scope=ADMIN).request("POST", WEBHOOKS, json=body)


def test_create_shows_the_secret_once_then_get_list_delete(api: Api) -> None:
    admin = api.as_(scope=ADMIN)
    created = subscribe(api, {"url": PUBLIC, "events": ["account.created"], "description": "CRM sync"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["status"] == "enabled"
    assert created.headers["location"] == f"{WEBHOOKS}/{body['id']}"
    shown = admin.request("GET", f"{WEBHOOKS}/{body['id']}").json()
    assert "secret" not in shown and shown["url"] == PUBLIC and shown["events"] == ["account.created"]
    listed = admin.request("GET", WEBHOOKS).json()
    assert [e["id"] for e in listed["data"]] == [body["id"]] and "secret" not in listed["data"][0]
    assert admin.request("GET", f"{WEBHOOKS}/{body['id']}/deliveries").json()["data"] == []
    assert admin.request("DELETE", f"{WEBHOOKS}/{body['id']}").status_code == 204
    assert_problem(admin.request("GET", f"{WEBHOOKS}/{body['id']}"), 404, "not_found")


def test_another_tenants_or_apps_endpoint_is_a_404(api: Api) -> None:
    body = subscribe(api, {"url": PUBLIC, "events": ["*"]}).json()
    other = api.as_(f"{api.tenant}-other", scope=ADMIN)
    for method, path in (("GET", ""), ("DELETE", ""), ("GET", "/deliveries")):
        assert_problem(other.request(method, f"{WEBHOOKS}/{body['id']}{path}"), 404, "not_found")
    assert other.request("GET", WEBHOOKS).json()["data"] == []
    app_caller = api.as_(scope=ADMIN, app="app-1")
    assert_problem(app_caller.request("GET", f"{WEBHOOKS}/{body['id']}"), 404, "not_found")


@pytest.mark.parametrize("scope", [None, "crm.accounts.read crm.accounts.write"])
def test_managing_webhooks_needs_crm_admin(api: Api, scope: str | None) -> None:
    caller = api.as_(scope=scope)
    assert_problem(caller.request("POST", WEBHOOKS, json={"url": PUBLIC, "events": ["*"]}), 403, "forbidden")
    assert_problem(caller.request("GET", WEBHOOKS), 403, "forbidden")
    assert api.http.get(WEBHOOKS).status_code == 401


@pytest.mark.parametrize(
    "body,field",
    [
        ({"events": ["*"]}, "url"),
        ({"url": PUBLIC}, "events"),
        ({"url": PUBLIC, "events": []}, "events"),
        ({"url": PUBLIC, "events": ["account.exploded"]}, "events"),
        ({"url": PUBLIC, "events": ["*"], "description": 3}, "description"),
        ({"url": PUBLIC, "events": ["*"], "secret": "whsec_x"}, "secret"),
        ({"url": "ftp://example.com/x", "events": ["*"]}, "url"),
        ({"url": "https://user:pw@93.184.215.14/", "events": ["*"]}, "url"),
    ],
)
def test_a_bad_subscription_is_a_422_naming_the_field(api: Api, body: dict[str, object], field: str) -> None:
    assert_problem(subscribe(api, body), 422, "validation_error", field)


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.215.14/hook",  # not https
        "https://127.0.0.1/hook",  # loopback
        "https://localhost/hook",
        "https://10.1.2.3/hook",  # private
        "https://172.16.0.1/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",  # link-local: cloud metadata
        "https://100.64.0.1/hook",  # shared address space (CGNAT)
        "https://224.0.0.1/hook",  # multicast
        "https://0.0.0.0/hook",  # unspecified
        "https://[::1]/hook",
        "https://[::]/hook",
        "https://[fe80::1]/hook",
        "https://[fd00::1]/hook",  # unique-local
        "https://[ff02::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped
        "https://[::ffff:169.254.169.254]/hook",
        "https://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
        "https://2130706433/hook",  # 127.0.0.1 as one number: resolves to loopback
    ],
)
def test_urls_off_the_public_internet_are_refused(api: Api, url: str) -> None:
    assert_problem(subscribe(api, {"url": url, "events": ["*"]}), 422, "validation_error", "url")


def test_patch_changes_what_it_names_pauses_and_re_enables(api: Api) -> None:
    admin = api.as_(scope=ADMIN)
    body = subscribe(api, {"url": PUBLIC, "events": ["*"], "description": "first"}).json()
    item = f"{WEBHOOKS}/{body['id']}"
    changed = admin.request(
        "PATCH", item, json={"events": ["account.created"], "description": None},
        headers={"Content-Type": "application/merge-patch+json"},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    shown = changed.json()
    assert (shown["url"], shown["events"], shown["description"], shown["status"]) == (PUBLIC, ["account.created"], None, "enabled")
    assert "secret" not in shown
    paused = admin.request("PATCH", item, json={"enabled": False}).json()
    assert paused["status"] == "disabled" and paused["disabled_reason"] == "disabled through the API by user-1"
    assert paused["disabled_at"] is not None
    enabled = admin.request("PATCH", item, json={"enabled": True}).json()
    assert (enabled["status"], enabled["disabled_reason"], enabled["disabled_at"]) == ("enabled", None, None)
    assert admin.request("GET", item).json() == enabled


@pytest.mark.parametrize(
    "patch,field",
    [
        ({"url": "https://10.0.0.1/hook"}, "url"),  # a new URL is checked as on create
        ({"url": "https://[::ffff:127.0.0.1]/hook"}, "url"),
        ({"url": None}, "url"),
        ({"events": []}, "events"),
        ({"events": ["*", "account.created"]}, "events"),
        ({"enabled": "yes"}, "enabled"),
        ({"description": "x" * 501}, "description"),
        ({"description": "a\u0000b"}, "description"),
        ({"secret": "whsec_x"}, "secret"),
    ],
)
def test_a_bad_patch_is_a_422_naming_the_field_and_changes_nothing(api: Api, patch: dict[str, object], field: str) -> None:
    admin = api.as_(scope=ADMIN)
    body = subscribe(api, {"url": PUBLIC, "events": ["*"]}).json()
    assert_problem(admin.request("PATCH", f"{WEBHOOKS}/{body['id']}", json=patch), 422, "validation_error", field)
    shown = admin.request("GET", f"{WEBHOOKS}/{body['id']}").json()
    assert (shown["url"], shown["events"], shown["status"]) == (PUBLIC, ["*"], "enabled")


def test_patching_another_tenants_endpoint_is_a_404_and_needs_crm_admin(api: Api) -> None:
    body = subscribe(api, {"url": PUBLIC, "events": ["*"]}).json()
    other = api.as_(f"{api.tenant}-other", scope=ADMIN)
    assert_problem(other.request("PATCH", f"{WEBHOOKS}/{body['id']}", json={"enabled": False}), 404, "not_found")
    writer = api.as_(scope="crm.accounts.write")
    assert_problem(writer.request("PATCH", f"{WEBHOOKS}/{body['id']}", json={"enabled": False}), 403, "forbidden")
    assert api.as_(scope=ADMIN).request("GET", f"{WEBHOOKS}/{body['id']}").json()["status"] == "enabled"


def test_the_endpoint_list_pages_and_refuses_a_forged_cursor(api: Api) -> None:
    admin = api.as_(scope=ADMIN)
    made = [subscribe(api, {"url": f"{PUBLIC}/{n}", "events": ["*"]}).json()["id"] for n in range(3)]
    first = admin.request("GET", WEBHOOKS, params={"limit": 2}).json()
    assert [e["id"] for e in first["data"]] == made[:2] and first["has_more"] is True
    second = admin.request("GET", WEBHOOKS, params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [e["id"] for e in second["data"]] == made[2:] and second["has_more"] is False
    assert_problem(admin.request("GET", WEBHOOKS, params={"cursor": "x\u0000"}), 400, "invalid_parameter", "cursor")
    assert_problem(admin.request("GET", WEBHOOKS, params={"limit": "0"}), 400, "invalid_parameter", "limit")
