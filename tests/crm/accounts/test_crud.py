"""Create, get, update (merge patch) and soft delete: the happy paths and their shape."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime

import pytest

from edm.crm.accounts.resource import ACCOUNTS as RESOURCE
from tests.conftest import ACCOUNTS, Api, assert_problem

FIELDS = RESOURCE.fields

ULID_ID = re.compile(r"acc_[0-7][0-9A-HJKMNP-TV-Z]{25}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


class TestCreate:
    def test_minimal_create_returns_every_field_with_defaults(self, api: Api) -> None:
        response = api.create({"name": "Acme"})
        assert response.status_code == 201
        record = response.json()
        assert list(record) == [f.name for f in FIELDS]
        assert ULID_ID.fullmatch(record["id"])
        assert record["tenant_id"] == api.tenant
        assert record["app_id"] is None
        assert record["created_by"] == record["updated_by"] == "user-1"
        assert TIMESTAMP.fullmatch(record["created_at"]) and record["created_at"] == record["updated_at"]
        assert (record["source"], record["source_type"]) == ("edm", "api")
        assert (record["is_deleted"], record["deleted_at"], record["deleted_by"]) == (False, None, None)
        assert record["schema_version"] == 1 and record["version"] == 1
        assert (record["tags"], record["addresses"], record["custom_fields"]) == ([], [], {})
        for name in ("owner_id", "legal_name", "website", "domain", "annual_revenue", "parent_account_id", "last_activity_at"):
            assert record[name] is None
        assert response.headers["location"] == f"{ACCOUNTS}/{record['id']}"
        assert response.headers["etag"] == '"1"'

    def test_full_create_stores_normalized_values(self, api: Api) -> None:
        owner = uuid.uuid4()
        body = {
            "name": "  Acme Corp  ",
            "legal_name": "Acme Corporation Ltd",
            "owner_id": f"usr-{str(owner).upper()}",
            "industry": "Software",
            "sub_industry": "SaaS",
            "lifecycle_stage": "customer",
            "lead_source": "referral",
            "health_score": "green",
            "website": "https://acme.example/about?x=1",
            "domain": "WWW.Acme.Example.",
            "phone": "+1 (555) 010-2000 x12",
            "addresses": [{"type": "billing", "line1": "1 Main St", "city": "Springfield", "country": "us"}],
            "annual_revenue": 1250000.5,
            "employee_count": 120,
            "description": "A customer.",
            "last_activity_at": "2024-05-01T14:30:15.123456+02:00",
            "first_contacted_at": "2023-01-02T03:04:05Z",
            "custom_fields": {"tier": "gold", "seats": 40, "regions": ["emea", "apac"], "vip": True, "gone": None},
            "tags": ["b2b", "priority", "b2b", "emea", "priority"],
            "source": "hubspot",
            "source_type": "backend",
        }
        record = api.created(body)
        assert record["name"] == "Acme Corp"
        assert record["owner_id"] == f"usr-{owner}"
        assert record["domain"] == "www.acme.example"
        assert record["addresses"] == [
            {"type": "billing", "line1": "1 Main St", "line2": None, "city": "Springfield", "region": None, "postal_code": None, "country": "US"}
        ]
        assert record["last_activity_at"] == "2024-05-01T12:30:15.123Z"
        assert record["first_contacted_at"] == "2023-01-02T03:04:05.000Z"
        assert record["custom_fields"] == {"tier": "gold", "seats": 40, "regions": ["emea", "apac"], "vip": True}
        assert record["tags"] == ["b2b", "priority", "emea"]
        assert record["annual_revenue"] == 1250000.5 and record["employee_count"] == 120
        assert (record["source"], record["source_type"]) == ("hubspot", "backend")
        assert api.get(record["id"]).json() == record

    def test_ids_are_time_ordered(self, api: Api) -> None:
        first = api.created()["id"]
        time.sleep(0.005)
        second = api.created()["id"]
        assert first < second


class TestGet:
    def test_get_returns_the_record_with_etag(self, api: Api) -> None:
        record = api.created({"name": "Globex"})
        response = api.get(record["id"])
        assert response.status_code == 200
        assert response.json() == record
        assert response.headers["etag"] == '"1"'

    def test_uuid_alias_finds_the_same_record(self, api: Api) -> None:
        from ulid import ULID

        record = api.created()
        alias = f"acc-{ULID.from_str(record['id'][4:]).to_uuid()}"
        response = api.get(alias)
        assert response.status_code == 200
        assert response.json()["id"] == record["id"]
        lower = api.get("acc_" + record["id"][4:].lower())
        assert lower.status_code == 200 and lower.json()["id"] == record["id"]

    def test_missing_and_malformed_ids_are_404(self, api: Api) -> None:
        assert_problem(api.get("acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404, "not_found")
        assert_problem(api.get("not-an-id"), 404, "not_found")
        assert_problem(api.get("acc-not-a-uuid"), 404, "not_found")

    def test_if_none_match_gives_304(self, api: Api) -> None:
        record = api.created()
        response = api.get(record["id"], headers={"If-None-Match": '"1"'})
        assert response.status_code == 304
        assert response.headers["etag"] == '"1"'
        assert api.get(record["id"], headers={"If-None-Match": '"7"'}).status_code == 200


class TestUpdate:
    def test_merge_patch_touches_only_named_fields(self, api: Api) -> None:
        record = api.created({"name": "Acme", "industry": "Retail", "legal_name": "Acme Ltd", "tags": ["a"]})
        response = api.patch(record["id"], {"industry": "Software", "legal_name": None, "tags": ["x", "y", "x"]})
        assert response.status_code == 200, response.text
        updated = response.json()
        assert updated["industry"] == "Software"
        assert updated["legal_name"] is None
        assert updated["tags"] == ["x", "y"]
        assert updated["name"] == "Acme"
        assert updated["version"] == 2 and response.headers["etag"] == '"2"'
        assert updated["created_at"] == record["created_at"]
        assert updated["updated_at"] > record["updated_at"]
        assert api.get(record["id"]).json() == updated

    def test_custom_fields_merge_key_by_key(self, api: Api) -> None:
        record = api.created({"name": "A", "custom_fields": {"a": 1, "b": "two", "c": [1, 2]}})
        updated = api.patch(record["id"], {"custom_fields": {"a": None, "c": [3], "d": False}}).json()
        assert updated["custom_fields"] == {"b": "two", "c": [3], "d": False}
        cleared = api.patch(record["id"], {"custom_fields": None}).json()
        assert cleared["custom_fields"] == {}

    def test_merge_patch_content_type_is_accepted(self, api: Api) -> None:
        record = api.created()
        response = api.request(
            "PATCH",
            f"{ACCOUNTS}/{record['id']}",
            content=b'{"industry": "Mining"}',
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert response.status_code == 200 and response.json()["industry"] == "Mining"

    def test_null_on_defaulted_fields_restores_the_default(self, api: Api) -> None:
        record = api.created({"name": "A", "source": "sf", "source_type": "system", "addresses": [{"city": "X"}]})
        updated = api.patch(record["id"], {"source": None, "source_type": None, "addresses": None}).json()
        assert (updated["source"], updated["source_type"], updated["addresses"]) == ("edm", "api", [])

    def test_every_write_bumps_version_and_updated_at(self, api: Api) -> None:
        record = api.created()
        stamps = [record["updated_at"]]
        for n in range(2, 6):
            updated = api.patch(record["id"], {"description": f"v{n}"}).json()
            assert updated["version"] == n
            stamps.append(updated["updated_at"])
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)

    def test_updated_by_is_the_last_writer(self, api: Api) -> None:
        record = api.created()
        updated = api.as_(sub="user-2").patch(record["id"], {"industry": "x"}).json()
        assert updated["created_by"] == "user-1" and updated["updated_by"] == "user-2"

    def test_body_version_and_if_match(self, api: Api) -> None:
        record = api.created()
        stale = api.patch(record["id"], {"industry": "x", "version": 5})
        body = assert_problem(stale, 409, "version_conflict")
        assert body["current_version"] == 1
        assert api.patch(record["id"], {"industry": "x", "version": 1}).json()["version"] == 2
        failed = api.patch(record["id"], {"industry": "y"}, headers={"If-Match": '"1"'})
        assert assert_problem(failed, 412, "precondition_failed")["current_version"] == 2
        assert api.patch(record["id"], {"industry": "y"}, headers={"If-Match": '"2"'}).status_code == 200
        assert api.get(record["id"]).json()["industry"] == "y"

    def test_update_of_missing_record_is_404(self, api: Api) -> None:
        assert_problem(api.patch("acc_01ARZ3NDEKTSV4RRFFQ69G5FAV", {"name": "x"}), 404, "not_found")


class TestDelete:
    def test_soft_delete_hides_the_record(self, api: Api) -> None:
        record = api.created()
        response = api.as_(sub="deleter").delete(record["id"])
        assert response.status_code == 204 and response.content == b""
        assert_problem(api.get(record["id"]), 404, "not_found")
        assert_problem(api.delete(record["id"]), 404, "not_found")
        assert_problem(api.patch(record["id"], {"name": "again"}), 404, "not_found")

    def test_a_deleted_record_is_readable_with_include_deleted(self, api: Api) -> None:
        record = api.created()
        assert api.as_(sub="deleter").delete(record["id"]).status_code == 204
        found = api.get(record["id"], params={"include_deleted": "true"})
        assert found.status_code == 200, found.text
        body = found.json()
        assert (body["is_deleted"], body["deleted_by"], body["version"]) == (True, "deleter", 2)
        assert found.headers["etag"] == '"2"'
        assert_problem(api.get(record["id"], params={"include_deleted": "false"}), 404, "not_found")
        for other in (api.as_(tenant=api.tenant + "-other"), api.as_(app="app-b")):
            assert_problem(other.get(record["id"], params={"include_deleted": "true"}), 404, "not_found")
        live = api.created()
        assert api.get(live["id"], params={"include_deleted": "true"}).json() == live

    @pytest.mark.parametrize("query", ["include_deleted=maybe", "include_deleted=true&include_deleted=true", "fields=name", "purge=true"])
    def test_get_takes_only_include_deleted(self, api: Api, query: str) -> None:
        record = api.created()
        name = query.split("=", 1)[0]
        assert_problem(api.get(f"{record['id']}?{query}"), 400, "invalid_parameter", name)

    def test_delete_with_stale_if_match_is_412_and_keeps_the_record(self, api: Api) -> None:
        record = api.created()
        assert_problem(api.delete(record["id"], headers={"If-Match": '"9"'}), 412, "precondition_failed")
        assert api.get(record["id"]).status_code == 200
        assert api.delete(record["id"], headers={"If-Match": '"1"'}).status_code == 204


def test_timestamps_are_utc_millisecond_rfc3339(api: Api) -> None:
    record = api.created({"name": "A", "last_activity_at": "2024-02-29T23:59:59.9999-05:00"})
    assert record["last_activity_at"] == "2024-03-01T04:59:59.999Z"
    created = datetime.fromisoformat(record["created_at"].replace("Z", "+00:00"))
    assert abs(created.timestamp() - time.time()) < 120


def test_whole_number_floats_are_integers(api: Api) -> None:
    """JSON (and JSON Schema) do not tell 120 from 120.0."""
    record = api.created({"name": "A", "employee_count": 120.0})
    assert record["employee_count"] == 120 and isinstance(record["employee_count"], int)
    assert api.patch(record["id"], {"employee_count": 7.0, "version": 1.0}).json()["employee_count"] == 7
    assert_problem(api.patch(record["id"], {"employee_count": 7.5}), 422, "validation_error", "employee_count")
