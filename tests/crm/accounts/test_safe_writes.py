"""Safe writes (docs/concurrency.md, docs/accounts.md, docs/idempotency.md): preconditions, EDM_REQUIRE_IF_MATCH,
Idempotency-Key, restore and purge.

Basic If-Match / body version lives in ``test_crud``; parallel races in
``test_concurrency``.  These tests are sequential, on both databases.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from edm.kit.db import Database
from edm.kit.idempotency import delete_expired, idempotency_keys
from tests.conftest import ACCOUNTS, Api, assert_problem, base_settings, make_token

MISSING = "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"
T = TypeVar("T")


# --------------------------------------------------------------------------- helpers


def restore(api: Api, account_id: str, **kw: Any) -> httpx.Response:
    return api.request("POST", f"{ACCOUNTS}/{account_id}/restore", **kw)


def purge(api: Api, account_id: str, **kw: Any) -> httpx.Response:
    return api.request("DELETE", f"{ACCOUNTS}/{account_id}", params={"purge": "true"}, **kw)


def admin(api: Api, **token_args: Any) -> Api:
    return api.as_(scope="crm.admin", **token_args)


def listed_ids(api: Api, **params: str) -> list[str]:
    response = api.request("GET", ACCOUNTS, params={"limit": "200", **params})
    assert response.status_code == 200, response.text
    return [record["id"] for record in response.json()["data"]]


def deleted_record(api: Api, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A record at version 2, soft-deleted by ``deleter``."""
    record = api.created(body)
    assert api.as_(sub="deleter").delete(record["id"]).status_code == 204
    return record


def key_headers(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


def in_database(database_url: str, data_dir: Path, tenant: str, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run ``work`` in one write transaction on ``tenant``'s rows, directly on the test database."""

    async def main() -> T:
        db = Database(base_settings(database_url, data_dir))
        try:
            async with db.write(tenant) as conn:
                return await work(conn)
        finally:
            await db.dispose()

    return asyncio.run(main())


def key_rows(database_url: str, data_dir: Path, tenant: str) -> list[dict[str, Any]]:
    async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
        result = await conn.execute(sa.select(idempotency_keys).where(idempotency_keys.c.tenant_id == tenant))
        return [dict(row) for row in result.mappings()]

    return in_database(database_url, data_dir, tenant, work)


def expire_key(database_url: str, data_dir: Path, tenant: str, key: str) -> int:
    past = datetime.now(UTC) - timedelta(minutes=1)

    async def work(conn: AsyncConnection) -> int:
        result = await conn.execute(
            sa.update(idempotency_keys)
            .where(idempotency_keys.c.tenant_id == tenant, idempotency_keys.c.key == key)
            .values(expires_at=past)
        )
        return result.rowcount

    return in_database(database_url, data_dir, tenant, work)


# --------------------------------------------------------------------------- If-Match


class TestIfMatch:
    def test_weak_tag_never_matches_on_update_delete_and_restore(self, api: Api) -> None:
        record = api.created()
        failed = api.patch(record["id"], {"industry": "x"}, headers={"If-Match": 'W/"1"'})
        assert assert_problem(failed, 412, "precondition_failed")["current_version"] == 1
        failed = api.delete(record["id"], headers={"If-Match": 'W/"1"'})
        assert assert_problem(failed, 412, "precondition_failed")["current_version"] == 1
        unchanged = api.get(record["id"]).json()
        assert unchanged["version"] == 1 and unchanged["industry"] is None

        gone = deleted_record(api)
        failed = restore(api, gone["id"], headers={"If-Match": 'W/"2"'})
        assert assert_problem(failed, 412, "precondition_failed")["current_version"] == 2
        assert api.get(gone["id"]).status_code == 404

    def test_weak_tag_on_a_missing_record_is_404(self, api: Api) -> None:
        assert_problem(api.patch(MISSING, {"industry": "x"}, headers={"If-Match": 'W/"1"'}), 404, "not_found")
        assert_problem(api.delete(MISSING, headers={"If-Match": 'W/"1"'}), 404, "not_found")

    def test_star_matches_any_live_record(self, api: Api) -> None:
        record = api.created()
        api.patch(record["id"], {"industry": "a"})
        updated = api.patch(record["id"], {"industry": "b"}, headers={"If-Match": "*"})
        assert updated.status_code == 200, updated.text
        assert updated.json()["version"] == 3 and updated.headers["etag"] == '"3"'
        assert api.delete(record["id"], headers={"If-Match": "*"}).status_code == 204
        # no live record: * matches nothing, and the answer is 404
        assert_problem(api.patch(record["id"], {"industry": "c"}, headers={"If-Match": "*"}), 404, "not_found")
        assert_problem(api.delete(record["id"], headers={"If-Match": "*"}), 404, "not_found")
        assert_problem(api.patch(MISSING, {"industry": "c"}, headers={"If-Match": "*"}), 404, "not_found")

    def test_a_list_matches_any_of_its_tags(self, api: Api) -> None:
        record = api.created()
        api.patch(record["id"], {"industry": "a"})
        response = api.patch(record["id"], {"industry": "b"}, headers={"If-Match": '"1", "2"'})
        assert response.status_code == 200 and response.json()["version"] == 3
        response = api.patch(record["id"], {"industry": "c"}, headers={"If-Match": '"1","2"'})
        assert assert_problem(response, 412, "precondition_failed")["current_version"] == 3
        # a weak tag in the list does not count
        response = api.patch(record["id"], {"industry": "c"}, headers={"If-Match": 'W/"3", "9"'})
        assert assert_problem(response, 412, "precondition_failed")["current_version"] == 3
        response = api.patch(record["id"], {"industry": "c"}, headers={"If-Match": '"9", "3"'})
        assert response.status_code == 200 and response.json()["version"] == 4
        assert api.delete(record["id"], headers={"If-Match": '"1", "4"'}).status_code == 204

    def test_strong_comparison_is_exact_so_leading_zeros_match_nothing(self, api: Api) -> None:
        record = api.created()
        for header in ('"01"', '"+1"', '"001"'):
            response = api.patch(record["id"], {"industry": "x"}, headers={"If-Match": header})
            assert assert_problem(response, 412, "precondition_failed")["current_version"] == 1
        assert api.get(record["id"], headers={"If-None-Match": '"01"'}).status_code == 200
        assert api.patch(record["id"], {"industry": "x"}, headers={"If-Match": '"1"'}).status_code == 200

    def test_a_well_formed_tag_that_is_not_a_version_matches_nothing(self, api: Api) -> None:
        record = api.created()
        response = api.patch(record["id"], {"industry": "x"}, headers={"If-Match": '"abc"'})
        assert assert_problem(response, 412, "precondition_failed")["current_version"] == 1

    @pytest.mark.parametrize("header", ["1", '"a', "W/1", '"1', "W/", "", '"1" "2"', '"1",'])
    def test_malformed_if_match_is_400_naming_it(self, api: Api, header: str) -> None:
        record = api.created()
        assert_problem(api.patch(record["id"], {"industry": "x"}, headers={"If-Match": header}), 400, field="If-Match")
        assert_problem(api.delete(record["id"], headers={"If-Match": header}), 400, field="If-Match")
        assert api.get(record["id"]).json()["version"] == 1
        gone = deleted_record(api)
        assert_problem(restore(api, gone["id"], headers={"If-Match": header}), 400, field="If-Match")
        assert api.get(gone["id"]).status_code == 404

    def test_body_version_with_a_disagreeing_if_match(self, api: Api) -> None:
        record = api.created()
        # If-Match fails (and the body version would pass): 412
        response = api.patch(record["id"], {"industry": "x", "version": 1}, headers={"If-Match": '"2"'})
        assert assert_problem(response, 412, "precondition_failed")["current_version"] == 1
        # both fail: If-Match speaks first
        response = api.patch(record["id"], {"industry": "x", "version": 3}, headers={"If-Match": '"2"'})
        assert assert_problem(response, 412, "precondition_failed")["current_version"] == 1
        # If-Match passes, the body version does not: 409
        response = api.patch(record["id"], {"industry": "x", "version": 2}, headers={"If-Match": '"1"'})
        assert assert_problem(response, 409, "version_conflict")["current_version"] == 1
        response = api.patch(record["id"], {"industry": "x", "version": 5}, headers={"If-Match": "*"})
        assert assert_problem(response, 409, "version_conflict")["current_version"] == 1
        assert api.get(record["id"]).json()["version"] == 1
        # both agree: applied
        response = api.patch(record["id"], {"industry": "x", "version": 1}, headers={"If-Match": '"1"'})
        assert response.status_code == 200 and response.json()["version"] == 2


class TestIfNoneMatch:
    def test_weak_comparison_gives_304_with_etag(self, api: Api) -> None:
        record = api.created()
        for header in ('W/"1"', "*", '"7", W/"1"', '"7" ,"1"'):
            response = api.get(record["id"], headers={"If-None-Match": header})
            assert response.status_code == 304, (header, response.text)
            assert response.headers["etag"] == '"1"'
            assert response.content == b""

    def test_a_changed_record_is_sent_again(self, api: Api) -> None:
        record = api.created()
        api.patch(record["id"], {"industry": "x"})
        for header in ('"1"', 'W/"1"', '"abc"'):
            response = api.get(record["id"], headers={"If-None-Match": header})
            assert response.status_code == 200
            assert response.headers["etag"] == '"2"' and response.json()["industry"] == "x"

    def test_a_deleted_record_is_404_even_for_star(self, api: Api) -> None:
        gone = deleted_record(api)
        assert_problem(api.get(gone["id"], headers={"If-None-Match": "*"}), 404, "not_found")

    @pytest.mark.parametrize("header", ["1", '"a', "W/1"])
    def test_malformed_if_none_match_is_400_naming_it(self, api: Api, header: str) -> None:
        record = api.created()
        assert_problem(api.get(record["id"], headers={"If-None-Match": header}), 400, field="If-None-Match")


# --------------------------------------------------------------------------- EDM_REQUIRE_IF_MATCH


@pytest.fixture(scope="module")
def strict_urls(serve: Any, database_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    """A server with ``require_if_match=True`` per database, started on first use."""
    urls: dict[str, str] = {}

    def url(backend: str) -> str:
        if backend not in urls:
            settings = base_settings(
                database_urls[backend], tmp_path_factory.mktemp(f"strict-{backend}"), require_if_match=True
            )
            urls[backend] = serve(settings)
        return urls[backend]

    return url


@pytest.fixture
def strict(api: Api, strict_urls: Callable[[str], str]) -> Iterator[Api]:
    with httpx.Client(base_url=strict_urls(api.backend), timeout=30) as client:
        yield Api(client, api.backend, api.tenant, make_token(api.tenant))


class TestRequireIfMatch:
    def test_writes_without_a_precondition_are_428(self, strict: Api) -> None:
        created = strict.create({"name": "Strict"})
        assert created.status_code == 201, created.text  # creates are unaffected
        record = created.json()
        assert_problem(strict.patch(record["id"], {"industry": "x"}), 428, "precondition_required")
        assert_problem(strict.delete(record["id"]), 428, "precondition_required")
        assert_problem(purge(admin(strict), record["id"]), 428, "precondition_required")
        after = strict.get(record["id"])
        assert after.status_code == 200 and after.json()["version"] == 1 and after.json()["industry"] is None

        assert strict.delete(record["id"], headers={"If-Match": '"1"'}).status_code == 204
        assert_problem(restore(strict, record["id"]), 428, "precondition_required")
        assert strict.get(record["id"]).status_code == 404

    def test_with_a_precondition_every_write_works(self, strict: Api) -> None:
        record = strict.created()
        updated = strict.patch(record["id"], {"industry": "x"}, headers={"If-Match": '"1"'})
        assert updated.status_code == 200 and updated.json()["version"] == 2
        by_body = strict.patch(record["id"], {"industry": "y", "version": 2})
        assert by_body.status_code == 200 and by_body.json()["version"] == 3
        starred = strict.patch(record["id"], {"industry": "z"}, headers={"If-Match": "*"})
        assert starred.status_code == 200 and starred.json()["version"] == 4
        assert strict.delete(record["id"], headers={"If-Match": '"4"'}).status_code == 204
        restored = restore(strict, record["id"], headers={"If-Match": '"5"'})
        assert restored.status_code == 200, restored.text
        assert restored.json()["version"] == 6 and restored.json()["is_deleted"] is False
        assert purge(admin(strict), record["id"], headers={"If-Match": '"6"'}).status_code == 204
        assert_problem(strict.get(record["id"]), 404, "not_found")

    def test_a_stale_precondition_is_still_412_or_409(self, strict: Api) -> None:
        record = strict.created()
        response = strict.patch(record["id"], {"industry": "x"}, headers={"If-Match": '"4"'})
        assert assert_problem(response, 412, "precondition_failed")["current_version"] == 1
        response = strict.patch(record["id"], {"industry": "x", "version": 4})
        assert assert_problem(response, 409, "version_conflict")["current_version"] == 1

    def test_the_default_server_needs_no_precondition(self, api: Api) -> None:
        record = api.created()
        assert api.patch(record["id"], {"industry": "x"}).status_code == 200
        assert api.delete(record["id"]).status_code == 204
        assert restore(api, record["id"]).status_code == 200


# --------------------------------------------------------------------------- Idempotency-Key


class TestIdempotency:
    def test_create_replay_is_byte_identical_and_marked(self, api: Api) -> None:
        key = key_headers(new_key())
        first = api.create({"name": "Once", "tags": ["a"]}, headers=key)
        assert first.status_code == 201, first.text
        assert "idempotent-replayed" not in first.headers
        record = first.json()
        api.patch(record["id"], {"industry": "changed since"})  # the replay is the first response, not the record now

        replay = api.create({"name": "Once", "tags": ["a"]}, headers=key)
        assert replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.content == first.content
        assert replay.headers["location"] == first.headers["location"] == f"{ACCOUNTS}/{record['id']}"
        assert replay.headers["etag"] == first.headers["etag"] == '"1"'
        assert replay.headers["content-type"].startswith("application/json")
        assert replay.headers["x-request-id"] != first.headers["x-request-id"]
        assert listed_ids(api) == [record["id"]]

    def test_same_key_with_a_different_body_is_422(self, api: Api) -> None:
        key = key_headers(new_key())
        assert api.create({"name": "One"}, headers=key).status_code == 201
        response = api.create({"name": "Two"}, headers=key)
        assert_problem(response, 422, "idempotency_conflict")
        assert "idempotent-replayed" not in response.headers
        assert len(listed_ids(api)) == 1

    def test_bodies_differing_in_key_order_or_whitespace_are_the_same(self, api: Api) -> None:
        key = key_headers(new_key())
        json_headers = {**key, "Content-Type": "application/json"}
        first = api.request("POST", ACCOUNTS, content=b'{"name":"Same","industry":"Retail"}', headers=json_headers)
        assert first.status_code == 201, first.text
        again = api.request(
            "POST", ACCOUNTS, content=b'{\n  "industry" : "Retail",\n\t"name" : "Same"\n}\n', headers=json_headers
        )
        assert again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert again.content == first.content
        assert len(listed_ids(api)) == 1

    @pytest.mark.parametrize(
        "key",
        ["x" * 256, "has space", "tab\there", "", "cl\u00e9", "\u2603"],
        ids=["256-chars", "space", "tab", "empty", "latin1", "non-latin1"],
    )
    def test_malformed_key_is_400_naming_it(self, api: Api, key: str) -> None:
        value: Any = key.encode("utf-8")
        response = api.create({"name": "Bad key"}, headers={"Idempotency-Key": value})
        assert_problem(response, 400, field="Idempotency-Key")
        assert listed_ids(api) == []

    def test_a_key_of_255_printable_characters_is_accepted(self, api: Api) -> None:
        key = key_headers(("k-" + uuid.uuid4().hex + "!~#" * 100)[:255])
        first = api.create({"name": "Long key"}, headers=key)
        assert first.status_code == 201, first.text
        replay = api.create({"name": "Long key"}, headers=key)
        assert replay.headers["idempotent-replayed"] == "true" and replay.content == first.content

    @pytest.mark.parametrize(
        "body", [b'{"name": "x", "employee_count": 100000000000000000000}', b'{"name": "\\ud800"}'], ids=["int-past-64-bits", "lone-surrogate"]
    )
    def test_a_keyed_body_only_json_can_hold_is_a_422_not_a_500(self, api: Api, body: bytes) -> None:
        """orjson cannot encode these bodies; the key's fingerprint must not crash before validation."""
        key = key_headers(new_key())
        headers = {**key, "Content-Type": "application/json"}
        for _ in range(2):  # a failed attempt frees its key: the retry is validated again
            response = api.request("POST", ACCOUNTS, content=body, headers=headers)
            field = "employee_count" if b"employee_count" in body else "name"
            assert_problem(response, 422, "validation_error", field)
        assert api.create({"name": "Fixed"}, headers=key).status_code == 201

    def test_a_failed_first_attempt_is_not_recorded(self, api: Api) -> None:
        key = key_headers(new_key())
        assert_problem(api.create({"name": ""}, headers=key), 422, "validation_error")
        assert_problem(api.create({"name": "x", "bogus": 1}, headers=key), 422, "validation_error")
        fixed = api.create({"name": "Fixed"}, headers=key)
        assert fixed.status_code == 201, fixed.text
        assert "idempotent-replayed" not in fixed.headers
        replay = api.create({"name": "Fixed"}, headers=key)
        assert replay.headers["idempotent-replayed"] == "true" and replay.json()["id"] == fixed.json()["id"]

    def test_keys_are_scoped_by_tenant_and_app(self, api: Api) -> None:
        key = key_headers(new_key())
        body = {"name": "Scoped"}
        callers = {
            "human": api,
            "other tenant": api.as_(tenant=f"tenant-{uuid.uuid4().hex[:12]}"),
            "app a": api.as_(app="app-a"),
            "app b": api.as_(app="app-b"),
        }
        ids = {}
        for name, caller in callers.items():
            response = caller.create(body, headers=key)
            assert response.status_code == 201, (name, response.text)
            assert "idempotent-replayed" not in response.headers, name
            ids[name] = response.json()["id"]
        assert len(set(ids.values())) == 4
        assert api.as_(app="app-a").get(ids["app a"]).json()["app_id"] == "app-a"
        for name, caller in callers.items():
            replay = caller.create(body, headers=key)
            assert replay.headers["idempotent-replayed"] == "true", name
            assert replay.json()["id"] == ids[name], name
        assert sorted(listed_ids(api)) == sorted([ids["human"], ids["app a"], ids["app b"]])

    def test_keys_are_scoped_by_route(self, api: Api) -> None:
        key = key_headers(new_key())
        created = api.create({"name": "Route"}, headers=key)
        assert created.status_code == 201
        record = created.json()
        assert api.delete(record["id"]).status_code == 204

        restored = restore(api, record["id"], headers=key)
        assert restored.status_code == 200, restored.text
        assert "idempotent-replayed" not in restored.headers
        assert restored.json()["version"] == 3

        replay = api.create({"name": "Route"}, headers=key)
        assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
        assert replay.content == created.content
        restore_replay = restore(api, record["id"], headers=key)
        assert restore_replay.status_code == 200 and restore_replay.headers["idempotent-replayed"] == "true"
        assert restore_replay.content == restored.content

    def test_restore_replay_repeats_status_body_and_etag(self, api: Api) -> None:
        record = deleted_record(api)
        key = key_headers(new_key())
        first = restore(api, record["id"], headers=key)
        assert first.status_code == 200, first.text
        assert "idempotent-replayed" not in first.headers
        assert first.headers["etag"] == '"3"'
        replay = restore(api, record["id"], headers=key)  # a plain retry would be a 409: the record is live
        assert replay.status_code == 200
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.content == first.content and replay.headers["etag"] == '"3"'
        assert api.get(record["id"]).json()["version"] == 3
        assert_problem(restore(api, record["id"]), 409, "conflict")

    def test_an_expired_key_is_new_again(self, api: Api, database_urls: dict[str, str], tmp_path: Path) -> None:
        raw_key = new_key()
        body = {"name": "Expiring"}
        first = api.create(body, headers=key_headers(raw_key))
        assert first.status_code == 201
        assert expire_key(database_urls[api.backend], tmp_path, api.tenant, raw_key) == 1

        again = api.create(body, headers=key_headers(raw_key))
        assert again.status_code == 201, again.text
        assert "idempotent-replayed" not in again.headers
        assert again.json()["id"] != first.json()["id"]
        replay = api.create(body, headers=key_headers(raw_key))
        assert replay.headers["idempotent-replayed"] == "true" and replay.content == again.content

        # an expired key also forgets its body: a different one is no conflict
        assert expire_key(database_urls[api.backend], tmp_path, api.tenant, raw_key) == 1
        other = api.create({"name": "Something else"}, headers=key_headers(raw_key))
        assert other.status_code == 201 and "idempotent-replayed" not in other.headers
        assert len(listed_ids(api)) == 3

    def test_delete_expired_removes_only_expired_rows(self, api: Api, database_urls: dict[str, str], tmp_path: Path) -> None:
        url = database_urls[api.backend]
        live_key, old_key = new_key(), new_key()
        assert api.create({"name": "Live"}, headers=key_headers(live_key)).status_code == 201
        assert api.create({"name": "Old"}, headers=key_headers(old_key)).status_code == 201
        assert {row["key"] for row in key_rows(url, tmp_path, api.tenant)} == {live_key, old_key}
        assert expire_key(url, tmp_path, api.tenant, old_key) == 1

        async def sweep() -> int:
            db = Database(base_settings(url, tmp_path))
            try:
                return await delete_expired(db)
            finally:
                await db.dispose()

        assert asyncio.run(sweep()) >= 1
        rows = key_rows(url, tmp_path, api.tenant)
        assert [row["key"] for row in rows] == [live_key]
        assert rows[0]["status"] == 201
        replay = api.create({"name": "Live"}, headers=key_headers(live_key))
        assert replay.headers["idempotent-replayed"] == "true"


# --------------------------------------------------------------------------- restore


class TestRestore:
    def test_restore_brings_a_deleted_record_back(self, api: Api) -> None:
        record = deleted_record(api, {"name": "Phoenix", "industry": "Retail"})
        response = restore(api.as_(sub="restorer"), record["id"])
        assert response.status_code == 200, response.text
        restored = response.json()
        assert (restored["is_deleted"], restored["deleted_at"], restored["deleted_by"]) == (False, None, None)
        assert restored["version"] == 3 and response.headers["etag"] == '"3"'
        assert restored["updated_by"] == "restorer" and restored["created_by"] == "user-1"
        assert restored["updated_at"] > record["updated_at"]
        assert (restored["name"], restored["industry"]) == ("Phoenix", "Retail")
        assert api.get(record["id"]).json() == restored
        assert record["id"] in listed_ids(api)

    def test_restore_of_a_live_record_is_409(self, api: Api) -> None:
        record = api.created()
        body = assert_problem(restore(api, record["id"]), 409, "conflict")
        assert body["current_version"] == 1
        assert api.get(record["id"]).json()["version"] == 1

    def test_restore_of_missing_or_foreign_records_is_404(self, api: Api) -> None:
        assert_problem(restore(api, MISSING), 404, "not_found")
        assert_problem(restore(api, "not-an-id"), 404, "not_found")
        record = deleted_record(api)
        assert_problem(restore(api.as_(tenant=f"tenant-{uuid.uuid4().hex[:12]}"), record["id"]), 404, "not_found")
        app_record = deleted_record(api.as_(app="app-a"))
        assert_problem(restore(api.as_(app="app-b"), app_record["id"]), 404, "not_found")
        assert_problem(restore(api.as_(app="app-b"), record["id"]), 404, "not_found")
        # nothing was restored by those attempts
        assert api.get(record["id"]).status_code == 404 and api.get(app_record["id"]).status_code == 404
        response = restore(api.as_(app="app-a"), app_record["id"])
        assert response.status_code == 200 and response.json()["app_id"] == "app-a"
        # a human restores any record of the tenant, and it keeps its app
        other = deleted_record(api.as_(app="app-b"))
        response = restore(api, other["id"])
        assert response.status_code == 200 and response.json()["app_id"] == "app-b"

    def test_restore_honours_if_match(self, api: Api) -> None:
        record = deleted_record(api)
        body = assert_problem(restore(api, record["id"], headers={"If-Match": '"1"'}), 412, "precondition_failed")
        assert body["current_version"] == 2
        assert api.get(record["id"]).status_code == 404
        response = restore(api, record["id"], headers={"If-Match": '"2"'})
        assert response.status_code == 200 and response.json()["version"] == 3

    def test_restore_needs_the_write_scope(self, api: Api) -> None:
        record = deleted_record(api)
        assert_problem(restore(api.as_(scope="crm.accounts.read"), record["id"]), 403, "forbidden")
        assert_problem(restore(api.as_(scope="crm.admin"), record["id"]), 403, "forbidden")
        assert api.get(record["id"]).status_code == 404
        response = restore(api.as_(scope="crm.accounts.read crm.accounts.write"), record["id"])
        assert response.status_code == 200


# --------------------------------------------------------------------------- purge


class TestPurge:
    def test_purge_needs_the_admin_scope(self, api: Api) -> None:
        record = api.created()
        assert_problem(purge(api, record["id"]), 403, "forbidden")
        assert_problem(purge(api.as_(scope="crm.accounts.read crm.accounts.write"), record["id"]), 403, "forbidden")
        assert api.get(record["id"]).json()["version"] == 1
        response = purge(admin(api), record["id"])
        assert response.status_code == 204 and response.content == b""
        assert_problem(api.get(record["id"]), 404, "not_found")

    def test_purge_removes_a_live_or_deleted_record_for_good(self, api: Api) -> None:
        live = api.created({"name": "Live"})
        gone = deleted_record(api, {"name": "Gone"})
        keep = api.created({"name": "Keep"})
        for record in (live, gone):
            assert purge(admin(api), record["id"]).status_code == 204
        everything = listed_ids(api, include_deleted="true")
        assert everything == [keep["id"]]
        for record in (live, gone):
            assert_problem(api.get(record["id"]), 404, "not_found")
            assert_problem(restore(api, record["id"]), 404, "not_found")
            assert_problem(purge(admin(api), record["id"]), 404, "not_found")
            assert_problem(api.delete(record["id"]), 404, "not_found")
            assert_problem(api.patch(record["id"], {"name": "again"}), 404, "not_found")

    def test_purge_detaches_children(self, api: Api) -> None:
        parent = api.created({"name": "Parent"})
        child = api.created({"name": "Child", "parent_account_id": parent["id"]})
        deleted_child = deleted_record(api, {"name": "Deleted child", "parent_account_id": parent["id"]})
        app_child = api.as_(app="app-a").created({"name": "App child"})
        assert api.patch(app_child["id"], {"parent_account_id": parent["id"]}).json()["version"] == 2
        unrelated = api.created({"name": "Unrelated"})

        assert purge(admin(api), parent["id"]).status_code == 204

        after = api.get(child["id"]).json()
        assert after["parent_account_id"] is None and after["version"] == 2
        after = api.get(app_child["id"]).json()
        assert after["parent_account_id"] is None and after["version"] == 3 and after["app_id"] == "app-a"
        listed = api.request(
            "GET", ACCOUNTS, params={"include_deleted": "true", "filter[id]": deleted_child["id"]}
        ).json()["data"]
        assert [(r["parent_account_id"], r["version"], r["is_deleted"]) for r in listed] == [(None, 3, True)]
        assert api.get(unrelated["id"]).json()["version"] == 1

    def test_purge_erases_stored_idempotent_responses(
        self, api: Api, database_urls: dict[str, str], tmp_path: Path
    ) -> None:
        url = database_urls[api.backend]
        create_key, restore_key, other_key = new_key(), new_key(), new_key()
        body = {"name": "Erase me"}
        first = api.create(body, headers=key_headers(create_key))
        assert first.status_code == 201
        record = first.json()
        assert api.delete(record["id"]).status_code == 204
        assert restore(api, record["id"], headers=key_headers(restore_key)).status_code == 200
        other = api.create({"name": "Other"}, headers=key_headers(other_key))
        assert {row["key"] for row in key_rows(url, tmp_path, api.tenant)} == {create_key, restore_key, other_key}

        assert purge(admin(api), record["id"]).status_code == 204

        assert [row["key"] for row in key_rows(url, tmp_path, api.tenant)] == [other_key]
        again = api.create(body, headers=key_headers(create_key))
        assert again.status_code == 201, again.text
        assert "idempotent-replayed" not in again.headers
        assert again.json()["id"] != record["id"]
        assert_problem(restore(api, record["id"], headers=key_headers(restore_key)), 404, "not_found")
        replay = api.create({"name": "Other"}, headers=key_headers(other_key))
        assert replay.headers["idempotent-replayed"] == "true" and replay.content == other.content

    def test_purge_false_is_a_soft_delete(self, api: Api) -> None:
        record = api.created()
        response = api.request("DELETE", f"{ACCOUNTS}/{record['id']}", params={"purge": "false"})
        assert response.status_code == 204
        assert_problem(api.get(record["id"]), 404, "not_found")
        listed = api.request("GET", ACCOUNTS, params={"include_deleted": "true"}).json()["data"]
        assert [(r["id"], r["is_deleted"], r["version"]) for r in listed] == [(record["id"], True, 2)]
        assert restore(api, record["id"]).status_code == 200

    @pytest.mark.parametrize(
        "query",
        ["purge=maybe", "purge=TRUE", "purge=", "purge=true&purge=true", "purge=false&purge=true", "purge=true&force=1", "force=1", "include_deleted=true"],
    )
    def test_bad_delete_parameters_are_400(self, api: Api, query: str) -> None:
        record = api.created()
        for caller in (api, admin(api)):
            response = caller.request("DELETE", f"{ACCOUNTS}/{record['id']}?{query}")
            assert_problem(response, 400)
        assert api.get(record["id"]).json()["version"] == 1

    def test_app_callers_purge_only_their_apps_records(self, api: Api) -> None:
        mine = api.as_(app="app-a").created({"name": "Mine"})
        theirs = api.as_(app="app-b").created({"name": "Theirs"})
        human = api.created({"name": "Human"})
        app_admin = admin(api, app="app-a")
        assert_problem(purge(app_admin, theirs["id"]), 404, "not_found")
        assert_problem(purge(app_admin, human["id"]), 404, "not_found")
        assert_problem(purge(admin(api, tenant=f"tenant-{uuid.uuid4().hex[:12]}"), mine["id"]), 404, "not_found")
        assert api.get(theirs["id"]).status_code == 200 and api.get(human["id"]).status_code == 200
        assert purge(app_admin, mine["id"]).status_code == 204
        assert_problem(api.get(mine["id"]), 404, "not_found")
        # a human admin purges any app's record
        assert purge(admin(api), theirs["id"]).status_code == 204
        assert sorted(listed_ids(api, include_deleted="true")) == [human["id"]]

    def test_purge_honours_if_match(self, api: Api) -> None:
        record = api.created()
        api.patch(record["id"], {"industry": "x"})
        body = assert_problem(purge(admin(api), record["id"], headers={"If-Match": '"1"'}), 412, "precondition_failed")
        assert body["current_version"] == 2
        assert_problem(purge(admin(api), record["id"], headers={"If-Match": 'W/"2"'}), 412, "precondition_failed")
        assert api.get(record["id"]).json()["version"] == 2
        assert purge(admin(api), record["id"], headers={"If-Match": '"2"'}).status_code == 204
        assert_problem(api.get(record["id"]), 404, "not_found")

        gone = deleted_record(api)
        body = assert_problem(purge(admin(api), gone["id"], headers={"If-Match": '"1"'}), 412, "precondition_failed")
        assert body["current_version"] == 2
        assert purge(admin(api), gone["id"], headers={"If-Match": '"2"'}).status_code == 204
        assert listed_ids(api, include_deleted="true") == []

    def test_purge_of_missing_record_is_404(self, api: Api) -> None:
        assert_problem(purge(admin(api), MISSING), 404, "not_found")
        assert_problem(purge(admin(api), "not-an-id"), 404, "not_found")
