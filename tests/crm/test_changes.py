"""History, the change feed and point-in-time reads (docs/changes.md), on both databases."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import ACCOUNTS, Api, assert_problem

EVENTS = f"{ACCOUNTS}/events"


def history(api: Api, account_id: str, **params: Any) -> list[dict[str, Any]]:
    response = api.request("GET", f"{ACCOUNTS}/{account_id}/history", params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def feed(api: Api, after: str | None = None, limit: int = 200) -> tuple[list[dict[str, Any]], str]:
    params: dict[str, Any] = {"limit": limit}
    if after is not None:
        params["after"] = after
    response = api.request("GET", EVENTS, params=params)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["object"] == "list" and isinstance(page["next_cursor"], str)
    return page["data"], page["next_cursor"]


def whole_feed(api: Api) -> list[dict[str, Any]]:
    events, cursor = feed(api)
    while True:
        more, cursor = feed(api, cursor)
        if not more:
            return events
        events += more


def test_history_changes_name_only_what_a_write_changed(api: Api) -> None:
    record = api.created({"name": "Acme", "industry": "Retail", "custom_fields": {"tier": "gold", "seats": 5}})
    body = {
        "name": "Acme",  # written, but the same value: not a change
        "industry": "Software",
        "last_activity_at": "2026-03-01T10:00:00.250Z",
        "custom_fields": {"seats": 6},
    }
    assert api.patch(record["id"], body).status_code == 200
    assert api.patch(record["id"], {}).status_code == 200
    assert api.delete(record["id"]).status_code == 204

    deleted, empty, updated = history(api, record["id"])[:3]
    assert updated["changes"] == {
        "industry": ["Retail", "Software"],
        "last_activity_at": [None, "2026-03-01T10:00:00.250Z"],
        "custom_fields": [{"tier": "gold", "seats": 5}, {"tier": "gold", "seats": 6}],
    }
    assert empty["op"] == "update" and empty["changes"] == {}
    assert deleted["changes"]["deleted_at"][0] is None
    assert deleted["changes"]["deleted_at"][1] == api.get(record["id"], params={"include_deleted": "true"}).json()["deleted_at"]


def test_history_of_every_op_with_its_actor(api: Api) -> None:
    app = api.as_(app="app-h", sub="robot")
    record = app.created({"name": "Acme", "tags": ["a"]})
    assert api.as_(sub="alice").patch(record["id"], {"name": "Acme Inc", "employee_count": 0}).status_code == 200
    assert app.delete(record["id"]).status_code == 204
    assert api.request("POST", f"{ACCOUNTS}/{record['id']}/restore").status_code == 200

    entries = history(api, record["id"])
    assert [(e["version"], e["op"], e["by"], e["app_id"]) for e in entries] == [
        (4, "restore", "user-1", None),
        (3, "delete", "robot", "app-h"),
        (2, "update", "alice", None),
        (1, "create", "robot", "app-h"),
    ]
    created = entries[3]["changes"]
    assert created["name"] == [None, "Acme"] and created["tags"] == [None, ["a"]] and created["app_id"] == [None, "app-h"]
    assert "id" not in created and "tenant_id" not in created and "custom_fields" not in created
    assert entries[2]["changes"] == {"name": ["Acme", "Acme Inc"], "employee_count": [None, 0]}
    assert entries[1]["changes"]["is_deleted"] == [False, True]
    assert entries[1]["changes"]["deleted_by"] == [None, "robot"]
    assert entries[0]["changes"]["is_deleted"] == [True, False]
    assert entries[3]["at"] == record["created_at"]
    # pages, newest first
    response = api.request("GET", f"{ACCOUNTS}/{record['id']}/history", params={"limit": 3})
    first = response.json()
    assert [e["version"] for e in first["data"]] == [4, 3, 2] and first["has_more"]
    rest = history(api, record["id"], limit=3, cursor=first["next_cursor"])
    assert [e["version"] for e in rest] == [1]


def test_history_is_isolated_by_tenant_and_app(api: Api) -> None:
    record = api.as_(app="app-a").created()
    assert history(api.as_(app="app-a"), record["id"])
    for other in (api.as_(app="app-b"), api.as_(tenant=api.tenant + "-other")):
        assert_problem(other.request("GET", f"{ACCOUNTS}/{record['id']}/history"), 404)
    assert_problem(api.request("GET", f"{ACCOUNTS}/acc_01ARZ3NDEKTSV4RRFFQ69G5FAV/history"), 404)
    assert_problem(api.request("GET", f"{ACCOUNTS}/{record['id']}/history", params={"limit": 0}), 400, field="limit")
    assert_problem(api.request("GET", f"{ACCOUNTS}/{record['id']}/history", params={"cursor": "x.y"}), 400, field="cursor")
    assert_problem(api.request("GET", f"{ACCOUNTS}/{record['id']}/history", params={"nope": "1"}), 400, field="nope")


def test_reading_history_and_feed_needs_the_read_scope(api: Api) -> None:
    record = api.created()
    writer = api.as_(scope="crm.accounts.write")
    assert writer.request("GET", f"{ACCOUNTS}/{record['id']}/history").status_code == 403
    assert writer.request("GET", EVENTS).status_code == 403
    reader = api.as_(scope="crm.accounts.read")
    assert reader.request("GET", EVENTS).status_code == 200


def test_purge_erases_history_and_redacts_the_feed(api: Api) -> None:
    app = api.as_(app="app-c")
    parent = app.created({"name": "Parent"})
    child = app.created({"name": "Child", "parent_account_id": parent["id"]})
    api.patch(parent["id"], {"name": "Parent 2"})
    assert api.as_(scope="crm.admin").delete(parent["id"], params={"purge": "true"}).status_code == 204
    assert_problem(api.request("GET", f"{ACCOUNTS}/{parent['id']}/history"), 404)
    assert_problem(api.get(parent["id"], params={"as_of": datetime.now(UTC).isoformat()}), 404)

    events = [e for e in whole_feed(api) if e["account_id"] == parent["id"]]
    assert [(e["type"], e["version"]) for e in events] == [("account.created", 1), ("account.updated", 2), ("account.purged", 3)]
    assert all(e["data"] is None for e in events)
    # the child lost its parent, with an event of its own
    entries = history(api, child["id"])
    assert entries[0]["op"] == "update" and entries[0]["changes"] == {"parent_account_id": [parent["id"], None]}


def test_as_of_before_creation_between_versions_and_after_delete(api: Api) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    record = api.created({"name": "v1"})
    time.sleep(0.01)
    updated = api.patch(record["id"], {"name": "v2"}).json()
    time.sleep(0.01)
    assert api.delete(record["id"]).status_code == 204

    assert_problem(api.get(record["id"], params={"as_of": before.isoformat()}), 404)
    at_v1 = api.get(record["id"], params={"as_of": record["updated_at"]})
    assert at_v1.status_code == 200 and at_v1.json() == record and at_v1.headers["ETag"] == '"1"'
    assert api.get(record["id"], params={"as_of": updated["updated_at"]}).json() == updated
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    assert_problem(api.get(record["id"], params={"as_of": now}), 404)
    deleted = api.get(record["id"], params={"as_of": now, "include_deleted": "true"})
    assert deleted.status_code == 200 and deleted.json()["is_deleted"] is True and deleted.json()["version"] == 3
    for bad in ("yesterday", "2026-01-01", "2026-01-01T00:00:00"):
        assert_problem(api.get(record["id"], params={"as_of": bad}), 400, field="as_of")
    assert_problem(api.as_(app="other").get(record["id"], params={"as_of": now, "include_deleted": "true"}), 404)


def test_feed_is_isolated_by_tenant_and_app_and_resumes(api: Api) -> None:
    mine = api.as_(app="app-f")
    a = mine.created({"name": "a"})
    b = api.created({"name": "b"})
    api.as_(tenant=api.tenant + "-x").created({"name": "elsewhere"})

    events = whole_feed(api)
    assert [(e["account_id"], e["type"]) for e in events] == [(a["id"], "account.created"), (b["id"], "account.created")]
    assert set(events[0]) == {"id", "type", "account_id", "version", "at", "by", "data"}
    assert events[0]["id"].startswith("evt_") and events[0]["data"] == a
    assert [e["account_id"] for e in whole_feed(mine)] == [a["id"]]

    _, cursor = feed(api)
    page, same = feed(api, cursor)
    assert page == [] and isinstance(same, str)
    mine.patch(a["id"], {"name": "a2"})
    page, _ = feed(api, same)
    assert [(e["type"], e["version"], e["data"]["name"]) for e in page] == [("account.updated", 2, "a2")]
    # a cursor is the caller's own
    assert_problem(mine.request("GET", EVENTS, params={"after": cursor}), 400, field="after")
    assert_problem(api.request("GET", EVENTS, params={"after": "forged.cursor"}), 400, field="after")
    assert_problem(api.request("GET", EVENTS, params={"limit": "201"}), 400, field="limit")


@pytest.mark.parametrize("limit", [1, 7])
def test_feed_pages_see_every_event_once(api: Api, limit: int) -> None:
    ids = [api.created({"name": f"n{i}"})["id"] for i in range(5)]
    for account_id in ids[:3]:
        api.patch(account_id, {"name": "changed"})
    seen: list[tuple[str, int]] = []
    cursor = None
    while True:
        page, cursor = feed(api, cursor, limit=limit)
        if not page:
            break
        seen += [(e["account_id"], e["version"]) for e in page]
    assert sorted(seen) == sorted([(i, 1) for i in ids] + [(i, 2) for i in ids[:3]])
