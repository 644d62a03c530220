"""``client.customer.accounts`` against the real servers, on SQLite and PostgreSQL, sync and async."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

import edm
from edm import NOT_GIVEN, Account, Address
from tests.conftest import make_token
from tests.sdk.conftest import run

MISSING = "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"
BERLIN_NOON = datetime(2026, 1, 2, 12, 0, 5, 250000, tzinfo=timezone(timedelta(hours=1)))


def full_create_kwargs() -> dict:
    return dict(
        name="  Globex  ",
        legal_name="Globex GmbH",
        domain="Globex.Example",
        website="https://globex.example/about",
        phone="+49 (30) 123-456",
        owner_id=f"usr-{uuid.uuid4()}",
        tags=["b2b", "emea", "b2b"],
        annual_revenue=2_500_000.5,
        employee_count=40,
        addresses=[{"type": "billing", "city": "Berlin", "country": "de"}, Address(type="office", line1="1 Main St")],
        custom_fields={"tier": "gold", "seats": 10, "regions": ["emea", "apac"]},
        last_activity_at=BERLIN_NOON,
        first_contacted_at="2025-12-31T23:00:00+00:00",
        source_type="backend",
    )


def assert_created(account: Account, tenant: str) -> None:
    assert isinstance(account, Account)
    assert account.id.startswith("acc_") and len(account.id) == 30
    assert account.tenant_id == tenant and account.app_id is None
    assert account.name == "Globex" and account.domain == "globex.example"
    assert account.tags == ["b2b", "emea"]
    assert account.annual_revenue == 2_500_000.5 and account.employee_count == 40
    assert account.version == 1 and account.is_deleted is False and account.deleted_at is None
    assert account.source == "edm" and account.source_type == "backend"
    assert account.created_by == "user-1" and account.updated_by == "user-1"
    assert isinstance(account.created_at, datetime) and account.created_at.tzinfo is UTC
    assert account.last_activity_at == datetime(2026, 1, 2, 11, 0, 5, 250000, tzinfo=UTC)
    assert account.first_contacted_at == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    assert all(isinstance(a, Address) for a in account.addresses)
    assert account.addresses[0].city == "Berlin" and account.addresses[0].country == "DE"
    assert account.addresses[1].line1 == "1 Main St" and account.addresses[1].country is None
    assert account.custom_fields == {"tier": "gold", "seats": 10, "regions": ["emea", "apac"]}


# --------------------------------------------------------------------------- CRUD


def test_crud_round_trip_with_typed_results(client: edm.Client, tenant: str) -> None:
    accounts = client.customer.accounts
    created = accounts.create(**full_create_kwargs())
    assert_created(created, tenant)

    fetched = accounts.get(created.id)
    assert fetched == created

    updated = accounts.update(created.id, industry="Software", employee_count=41)
    assert updated.version == 2 and updated.industry == "Software" and updated.employee_count == 41
    assert updated.updated_at > created.updated_at and updated.created_at == created.created_at

    assert accounts.delete(created.id) is None
    with pytest.raises(edm.NotFoundError):
        accounts.get(created.id)


def test_async_crud_round_trip_with_typed_results(base_url: str, token: str, tenant: str) -> None:
    async def main() -> None:
        async with edm.AsyncClient(base_url, token) as client:
            accounts = client.customer.accounts
            created = await accounts.create(**full_create_kwargs())
            assert_created(created, tenant)
            assert await accounts.get(created.id) == created
            updated = await accounts.update(created.id, industry="Software")
            assert updated.version == 2 and updated.industry == "Software"
            assert await accounts.delete(created.id) is None
            with pytest.raises(edm.NotFoundError):
                await accounts.get(created.id)

    run(main())


def test_resources_are_lazy_cached_properties(client: edm.Client) -> None:
    assert client.customer is client.customer
    assert client.customer.accounts is client.customer.accounts


# --------------------------------------------------------------------------- update semantics


def test_update_leaves_not_given_alone_and_none_clears(client: edm.Client) -> None:
    accounts = client.customer.accounts
    account = accounts.create(
        name="Initech",
        industry="Software",
        legal_name="Initech LLC",
        source="crm-import",
        tags=["x"],
        custom_fields={"tier": "gold", "region": "emea"},
    )

    patched = accounts.update(account.id, legal_name=None, industry=NOT_GIVEN, custom_fields={"tier": None, "seats": 5})
    assert patched.legal_name is None  # None cleared it
    assert patched.industry == "Software"  # NOT_GIVEN left it alone
    assert patched.source == "crm-import" and patched.tags == ["x"]
    assert patched.custom_fields == {"region": "emea", "seats": 5}  # merged key by key; None removed "tier"
    assert patched.version == 2

    defaults = accounts.update(account.id, source=None, tags=None)
    assert defaults.source == "edm" and defaults.tags == []  # null restores a default
    assert defaults.industry == "Software"

    untouched = accounts.update(account.id)  # an empty merge patch is still a write
    assert untouched.version == 4
    assert untouched.model_dump(exclude={"version", "updated_at"}) == defaults.model_dump(exclude={"version", "updated_at"})
    assert accounts.get(account.id) == untouched


def test_async_update_semantics(base_url: str, token: str) -> None:
    async def main() -> None:
        async with edm.AsyncClient(base_url, token) as client:
            account = await client.customer.accounts.create(name="Hooli", industry="Tech", phone="+1 555 0100")
            patched = await client.customer.accounts.update(account.id, phone=None)
            assert patched.phone is None and patched.industry == "Tech" and patched.version == 2

    run(main())


# --------------------------------------------------------------------------- concurrency


def test_if_version_conflict_is_412_with_current_version(client: edm.Client) -> None:
    accounts = client.customer.accounts
    account = accounts.create(name="Vandelay")
    assert accounts.update(account.id, name="Vandelay Industries", if_version=1).version == 2

    with pytest.raises(edm.PreconditionFailedError) as caught:
        accounts.update(account.id, name="Stale", if_version=1)
    error = caught.value
    assert isinstance(error, edm.APIStatusError)
    assert error.status_code == 412 and error.code == "precondition_failed"
    assert error.current_version == 2 and error.request_id
    assert accounts.get(account.id).name == "Vandelay Industries"

    with pytest.raises(edm.PreconditionFailedError) as caught:
        accounts.delete(account.id, if_version=1)
    assert caught.value.current_version == 2
    accounts.delete(account.id, if_version=2)

    with pytest.raises(edm.PreconditionFailedError) as caught:
        accounts.restore(account.id, if_version=2)
    assert caught.value.current_version == 3
    assert accounts.restore(account.id, if_version=3).version == 4


def test_async_if_version_conflict(base_url: str, token: str) -> None:
    async def main() -> None:
        async with edm.AsyncClient(base_url, token) as client:
            account = await client.customer.accounts.create(name="Kramerica")
            await client.customer.accounts.update(account.id, industry="Oil")
            with pytest.raises(edm.PreconditionFailedError) as caught:
                await client.customer.accounts.update(account.id, industry="Gas", if_version=account.version)
            assert caught.value.current_version == 2

    run(main())


# --------------------------------------------------------------------------- errors


def test_missing_record_is_not_found_with_request_id_and_code(client: edm.Client) -> None:
    with pytest.raises(edm.NotFoundError) as caught:
        client.customer.accounts.get(MISSING)
    error = caught.value
    assert error.status_code == 404 and error.code == "not_found"
    assert error.request_id and error.request_id == error.response.headers["x-request-id"]
    assert error.body["status"] == 404 and error.errors == []
    assert "404" in str(error) and error.request_id in str(error)

    with pytest.raises(edm.NotFoundError) as caught:  # per-call extra_headers reach the server
        client.customer.accounts.get(MISSING, extra_headers={"X-Request-Id": "sdk-test.42"})
    assert caught.value.request_id == "sdk-test.42"


def test_async_missing_record_is_not_found(base_url: str, token: str) -> None:
    async def main() -> None:
        async with edm.AsyncClient(base_url, token) as client:
            for call in (
                client.customer.accounts.get(MISSING),
                client.customer.accounts.update(MISSING, name="x"),
                client.customer.accounts.delete(MISSING),
            ):
                with pytest.raises(edm.NotFoundError) as caught:
                    await call
                assert caught.value.code == "not_found" and caught.value.request_id

    run(main())


def test_validation_error_is_422_naming_each_field(client: edm.Client) -> None:
    with pytest.raises(edm.UnprocessableEntityError) as caught:
        client.customer.accounts.create(name="Bad", website="not a url", employee_count=-1, tags=[""])
    error = caught.value
    assert error.status_code == 422 and error.code == "validation_error" and error.request_id
    fields = {detail.field for detail in error.errors}
    assert {"website", "employee_count"} <= fields and any(f.startswith("tags") for f in fields)
    assert all(isinstance(detail, edm.ErrorDetail) and detail.message for detail in error.errors)

    account = client.customer.accounts.create(name="Good")
    with pytest.raises(edm.UnprocessableEntityError) as caught:
        client.customer.accounts.update(account.id, name=None)  # type: ignore[arg-type]
    assert [d.field for d in caught.value.errors] == ["name"]


def test_async_validation_error(base_url: str, token: str) -> None:
    async def main() -> None:
        async with edm.AsyncClient(base_url, token) as client:
            with pytest.raises(edm.UnprocessableEntityError) as caught:
                await client.customer.accounts.create(name="x", domain="http://not a host/", annual_revenue=-5)
            assert {"domain", "annual_revenue"} <= {d.field for d in caught.value.errors}

    run(main())


def test_naive_datetimes_are_refused_before_sending(client: edm.Client) -> None:
    with pytest.raises(ValueError, match="timezone"):
        client.customer.accounts.create(name="x", last_activity_at=datetime(2026, 1, 1))
    assert client.customer.accounts.list(include_total=True).total == 0


def test_restoring_a_live_record_is_a_conflict(client: edm.Client) -> None:
    account = client.customer.accounts.create(name="Live")
    with pytest.raises(edm.ConflictError) as caught:
        client.customer.accounts.restore(account.id)
    assert caught.value.status_code == 409 and caught.value.current_version == 1


def test_bad_token_and_missing_scope(base_url: str, tenant: str) -> None:
    with edm.Client(base_url, "not-a-jwt") as anonymous:
        with pytest.raises(edm.AuthenticationError) as caught:
            anonymous.customer.accounts.list()
    assert caught.value.status_code == 401 and caught.value.code == "unauthorized"

    with edm.Client(base_url, make_token(tenant, scope="crm.accounts.read")) as reader:
        with pytest.raises(edm.PermissionDeniedError) as denied:
            reader.customer.accounts.create(name="Nope")
    assert denied.value.status_code == 403 and denied.value.code == "forbidden"


# --------------------------------------------------------------------------- delete, restore, purge


def test_delete_restore_and_purge(client: edm.Client, base_url: str, tenant: str) -> None:
    accounts = client.customer.accounts
    account = accounts.create(name="Soylent")
    accounts.delete(account.id)
    with pytest.raises(edm.NotFoundError):
        accounts.get(account.id)
    with pytest.raises(edm.NotFoundError):
        accounts.delete(account.id)  # deleting twice is a 404

    seen = accounts.get(account.id, include_deleted=True)
    assert seen.is_deleted is True and seen.version == 2
    deleted = list(accounts.list(include_deleted=True, filter={"is_deleted": True}))
    assert [a.id for a in deleted] == [account.id]
    assert deleted[0].is_deleted is True and deleted[0].deleted_by == "user-1"
    assert isinstance(deleted[0].deleted_at, datetime)

    restored = accounts.restore(account.id)
    assert restored.is_deleted is False and restored.deleted_at is None and restored.version == 3
    assert accounts.get(account.id) == restored

    with pytest.raises(edm.PermissionDeniedError):
        accounts.purge(account.id)  # a plain session lacks crm.admin
    admin = client.with_options(token=make_token(tenant, scope="crm.admin"))
    assert admin.customer.accounts.purge(account.id) is None
    with pytest.raises(edm.NotFoundError):
        accounts.get(account.id)
    with pytest.raises(edm.NotFoundError):
        accounts.restore(account.id)
    assert list(accounts.list(include_deleted=True)) == []


def test_async_delete_restore_and_purge(base_url: str, tenant: str) -> None:
    async def main() -> None:
        async with edm.AsyncClient(base_url, make_token(tenant, scope="crm.accounts.read crm.accounts.write crm.admin")) as client:
            accounts = client.customer.accounts
            account = await accounts.create(name="Wonka")
            await accounts.delete(account.id, if_version=1)
            assert (await accounts.get(account.id, include_deleted=True)).is_deleted is True
            restored = await accounts.restore(account.id, if_version=2)
            assert restored.version == 3 and restored.is_deleted is False
            await accounts.delete(account.id)
            await accounts.purge(account.id)  # a deleted record can be purged too
            with pytest.raises(edm.NotFoundError):
                await accounts.restore(account.id)
            assert [a async for a in accounts.list(include_deleted=True)] == []

    run(main())


# --------------------------------------------------------------------------- isolation


@pytest.fixture
def other_tenant_client(base_url: str) -> Iterator[edm.Client]:
    with edm.Client(base_url, make_token(f"tenant-{uuid.uuid4().hex[:12]}")) as client:
        yield client


def test_other_tenant_sees_not_found(client: edm.Client, other_tenant_client: edm.Client) -> None:
    account = client.customer.accounts.create(name="Private")
    others = other_tenant_client.customer.accounts
    for call in (
        lambda: others.get(account.id),
        lambda: others.update(account.id, name="Hijacked"),
        lambda: others.delete(account.id),
        lambda: others.restore(account.id),
    ):
        with pytest.raises(edm.NotFoundError) as caught:
            call()
        assert caught.value.code == "not_found"
    assert list(others.list()) == []
    assert client.customer.accounts.get(account.id).name == "Private"


def test_app_isolation(client: edm.Client, base_url: str, tenant: str) -> None:
    scope = "crm.accounts.read crm.accounts.write"
    human_record = client.customer.accounts.create(name="Human")
    with edm.Client(base_url, make_token(tenant, app="app-1", scope=scope)) as app1, edm.Client(
        base_url, make_token(tenant, app="app-2", scope=scope)
    ) as app2:
        mine = app1.customer.accounts.create(name="App one's")
        assert mine.app_id == "app-1"
        with pytest.raises(edm.NotFoundError):
            app1.customer.accounts.get(human_record.id)
        with pytest.raises(edm.NotFoundError):
            app2.customer.accounts.get(mine.id)
        with pytest.raises(edm.NotFoundError):
            app2.customer.accounts.update(mine.id, name="Taken")
        assert [a.id for a in app1.customer.accounts.list()] == [mine.id]
        assert list(app2.customer.accounts.list()) == []
    # the human session sees both, and the app's record keeps its app_id
    assert {a.id for a in client.customer.accounts.list()} == {human_record.id, mine.id}
    assert client.customer.accounts.update(mine.id, industry="Retail").app_id == "app-1"


# --------------------------------------------------------------------------- EDM_REQUIRE_IF_MATCH


@pytest.fixture(scope="module")
def strict_urls(serve, database_urls, tmp_path_factory):  # type: ignore[no-untyped-def]
    from tests.conftest import base_settings

    urls: dict[str, str] = {}

    def url(backend: str) -> str:
        if backend not in urls:
            data_dir = tmp_path_factory.mktemp(f"sdk-strict-{backend}")
            urls[backend] = serve(base_settings(database_urls[backend], data_dir, require_if_match=True))
        return urls[backend]

    return url


def test_precondition_required_is_428(backend: str, strict_urls, token: str) -> None:  # type: ignore[no-untyped-def]
    with edm.Client(strict_urls(backend), token) as client:
        account = client.customer.accounts.create(name="Strict")
        with pytest.raises(edm.PreconditionRequiredError) as caught:
            client.customer.accounts.update(account.id, name="Loose")
        assert caught.value.status_code == 428 and caught.value.code == "precondition_required"
        assert client.customer.accounts.update(account.id, name="Careful", if_version=account.version).version == 2
