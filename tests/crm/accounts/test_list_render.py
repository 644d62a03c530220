"""A record reads the same in a list page as from get, on both databases
(PostgreSQL renders list pages in the database; get renders in Python)."""

from __future__ import annotations

from tests.conftest import ACCOUNTS, Api

FULL = {
    "name": "Ünïcode \"quoted\" \\ name",
    "legal_name": "Tab\tand newline\n and \u0001 control",
    "owner_id": "usr-3f2c8a9e-1b4d-4c6e-9a7b-2d5e8f0a1c3b",
    "industry": "Software",
    "website": "https://example.com/a?b=c&d=%20",
    "domain": "bücher.example",
    "phone": "+49 (30) 123-456 x7",
    "addresses": [{"type": "billing", "line1": "Straße 1", "country": "de"}, {"city": "Zürich"}],
    "annual_revenue": 10.0,
    "employee_count": 9007199254740993,
    "description": "emoji 🎉 and a surrogate pair 𝄞",
    "last_activity_at": "0999-12-31T23:59:59.999Z",
    "first_contacted_at": "2024-02-29T12:00:00.5+05:30",
    "custom_fields": {"z": 1, "a": [1, "two", True, None, 2.5], "big": 1e300, "neg": -0.0},
    "tags": ["β", "a", "β"],
    "source": "import",
    "source_type": "system",
}


def _same_numbers(value: object) -> object:
    """JSON does not tell 1e300 from 1000…0: compare numbers as numbers."""
    if isinstance(value, dict):
        return {k: _same_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_same_numbers(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def test_list_and_get_agree_for_every_field(api: Api) -> None:
    parent = api.created({"name": "parent", "annual_revenue": 1250000.5})
    child = api.created({**FULL, "parent_account_id": parent["id"]})
    api.patch(parent["id"], {"description": "updated"})
    api.delete(api.created({"name": "gone"})["id"])
    for params in ({}, {"sort": "name"}, {"include_deleted": "true", "sort": "-annual_revenue"}):
        listed = api.request("GET", ACCOUNTS, params=params).json()["data"]
        by_id = {r["id"]: r for r in listed}
        for record in (parent, child):
            assert _same_numbers(by_id[record["id"]]) == _same_numbers(api.get(record["id"]).json())
    deleted = [r for r in api.request("GET", ACCOUNTS, params={"include_deleted": "true"}).json()["data"] if r["is_deleted"]]
    assert len(deleted) == 1 and deleted[0]["deleted_at"] is not None


def test_sparse_fields_keep_field_order_and_id(api: Api) -> None:
    api.created(FULL)
    data = api.request("GET", ACCOUNTS, params={"fields": "tags,name,last_activity_at"}).json()["data"]
    assert [list(r) for r in data] == [["id", "tags", "name", "last_activity_at"]]
    assert data[0]["tags"] == ["β", "a"] and data[0]["last_activity_at"] == "0999-12-31T23:59:59.999Z"


def test_every_scalar_field_filters_including_description_and_tenant(api: Api) -> None:
    hit = api.created({"name": "a", "description": "Renewal due in MARCH"})
    api.created({"name": "b", "description": "nothing here"})
    found = api.request("GET", ACCOUNTS, params={"filter[description][contains]": "march"}).json()["data"]
    assert [r["id"] for r in found] == [hit["id"]]
    mine = api.request("GET", ACCOUNTS, params={"filter[tenant_id]": api.tenant, "include_total": "true"}).json()
    other = api.request("GET", ACCOUNTS, params={"filter[tenant_id]": "someone-else", "include_total": "true"}).json()
    assert (mine["total"], other["total"]) == (2, 0)
