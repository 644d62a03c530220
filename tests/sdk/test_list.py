"""``accounts.list()``: auto-pagination, pages, filters encoded as the API's query parameters (docs/listing.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta, timezone

import httpx
import pytest

import edm
from edm import Account, AsyncPage, SyncPage
from tests.conftest import make_token
from tests.sdk.conftest import run


@dataclass
class Seeded:
    by_name: dict[str, Account]

    def ids(self, *names: str) -> set[str]:
        return {self.by_name[n].id for n in names}


SEED = [
    dict(name="Alpha", industry="Software", annual_revenue=500, tags=["emea"], custom_fields={"tier": "gold"}),
    dict(name="Bravo", industry="Software", annual_revenue=5_000, tags=["apac", "b2b"], custom_fields={"tier": "silver"}),
    dict(name="Charlie", industry="Retail", annual_revenue=50_000, tags=["emea", "b2b"], custom_fields={"tier": "gold"}),
    dict(name="Delta", industry="Software", annual_revenue=None, tags=[], owner_id=None),
    dict(name="Echo", industry="Banking", annual_revenue=1_000, tags=["amer"], description="Echo echoes acme"),
]


@pytest.fixture
def seeded(client: edm.Client) -> Seeded:
    return Seeded({body["name"]: client.customer.accounts.create(**body) for body in SEED})  # type: ignore[arg-type]


def names(accounts: list[Account]) -> list[str]:
    return [a.name for a in accounts]


# --------------------------------------------------------------------------- pagination


def test_iterating_walks_every_page_lazily(base_url: str, token: str, seeded: Seeded) -> None:
    requests: list[httpx.Request] = []
    with httpx.Client(event_hooks={"request": [requests.append]}) as http, edm.Client(base_url, token, http_client=http) as client:
        page = client.customer.accounts.list(limit=2, sort="name", include_total=True)
        assert isinstance(page, SyncPage) and len(requests) == 1
        assert names(page.data) == ["Alpha", "Bravo"]
        assert page.has_more is True and isinstance(page.next_cursor, str) and page.total == 5

        iterator = iter(page)
        assert [next(iterator).name, next(iterator).name] == ["Alpha", "Bravo"]
        assert len(requests) == 1  # the second page is fetched only when needed
        assert [a.name for a in iterator] == ["Charlie", "Delta", "Echo"]
        assert len(requests) == 3
        assert all(r.url.params["limit"] == "2" and r.url.params["sort"] == "name" for r in requests)
        assert [r.url.params.get("cursor") is None for r in requests] == [True, False, False]


def test_iter_pages_and_page_fields(client: edm.Client, seeded: Seeded) -> None:
    pages = list(client.customer.accounts.list(limit=2, sort=["-annual_revenue", "name"], include_total=True).iter_pages())
    assert [names(p.data) for p in pages] == [["Charlie", "Bravo"], ["Echo", "Alpha"], ["Delta"]]  # nulls last
    assert [p.has_more for p in pages] == [True, True, False]
    assert pages[-1].next_cursor is None and not pages[-1].has_next_page()
    assert {p.total for p in pages} == {5}
    with pytest.raises(RuntimeError):
        pages[-1].get_next_page()
    assert names(pages[0].get_next_page().data) == ["Echo", "Alpha"]

    resumed = client.customer.accounts.list(limit=2, sort=["-annual_revenue", "name"], cursor=pages[0].next_cursor)
    assert names(list(resumed)) == ["Echo", "Alpha", "Delta"]


def test_filters_with_paging(client: edm.Client, seeded: Seeded) -> None:
    walk = client.customer.accounts.list(
        limit=2, sort="-name", filter={"industry": "Software", "annual_revenue": {"gte": 1000}}
    )
    assert names(list(walk)) == ["Bravo"]
    software = client.customer.accounts.list(limit=2, sort="-name", filter={"industry": {"in": ["Software", "Banking"]}})
    assert names(list(software)) == ["Echo", "Delta", "Bravo", "Alpha"]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"tags": "emea"}, {"Alpha", "Charlie"}),
        ({"tags": {"any": ["apac", "amer"]}}, {"Bravo", "Echo"}),
        ({"tags": {"all": ("emea", "b2b")}}, {"Charlie"}),
        ({"custom_fields.tier": "gold"}, {"Alpha", "Charlie"}),
        ({"custom_fields.tier": {"exists": False}}, {"Delta", "Echo"}),
        ({"annual_revenue": {"gt": 999.5, "lte": 5000}}, {"Bravo", "Echo"}),
        ({"annual_revenue": {"exists": False}}, {"Delta"}),
        ({"industry": {"ne": "Software"}}, {"Charlie", "Echo"}),
        ({"name": {"starts_with": "ch"}}, {"Charlie"}),
        ({"is_deleted": False, "employee_count": {"exists": False}}, {"Alpha", "Bravo", "Charlie", "Delta", "Echo"}),
    ],
)
def test_filter_encodings_reach_the_server(client: edm.Client, seeded: Seeded, filter: dict, expected: set[str]) -> None:
    assert {a.name for a in client.customer.accounts.list(filter=filter, limit=2)} == expected


def test_datetime_filters_are_rfc3339(client: edm.Client, seeded: Seeded) -> None:
    middle = seeded.by_name["Charlie"].created_at
    assert middle is not None
    created = {name: account.created_at for name, account in seeded.by_name.items()}
    expected_later = {name for name, at in created.items() if at >= middle}
    expected_earlier = set(created) - expected_later
    assert "Charlie" in expected_later and "Alpha" in expected_earlier

    later = {a.name for a in client.customer.accounts.list(filter={"created_at": {"gte": middle}})}
    assert later == expected_later
    in_berlin = middle.astimezone(timezone(timedelta(hours=1)))  # the same instant, another offset
    earlier = {a.name for a in client.customer.accounts.list(filter={"created_at": {"lt": in_berlin}})}
    assert earlier == expected_earlier


def test_hierarchy_filter(client: edm.Client) -> None:
    accounts = client.customer.accounts
    root = accounts.create(name="Root")
    child = accounts.create(name="Child", parent_account_id=root.id)
    grandchild = accounts.create(name="Grandchild", parent_account_id=child.id)
    accounts.create(name="Unrelated")
    under = {a.id for a in accounts.list(filter={"parent_account_id": {"under": root.id}})}
    assert under == {child.id, grandchild.id}


def test_search_sparse_fields_and_include_deleted(client: edm.Client, seeded: Seeded) -> None:
    assert names(list(client.customer.accounts.list(q="ACME"))) == ["Echo"]

    sparse = client.customer.accounts.list(fields=["name", "industry"], sort="name", limit=5).data
    assert names(sparse) == ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]
    assert sparse[0].model_fields_set == {"id", "name", "industry"}
    assert sparse[0].tenant_id is None and sparse[0].industry == "Software"

    client.customer.accounts.delete(seeded.by_name["Alpha"].id)
    assert "Alpha" not in names(list(client.customer.accounts.list()))
    everything = client.customer.accounts.list(include_deleted=True, include_total=True)
    assert everything.total == 5 and "Alpha" in names(list(everything))


def test_bad_list_parameter_is_a_bad_request(client: edm.Client) -> None:
    with pytest.raises(edm.BadRequestError) as caught:
        client.customer.accounts.list(filter={"annual_revenue": {"gte": "lots"}})
    assert caught.value.status_code == 400 and caught.value.errors[0].field == "filter[annual_revenue][gte]"
    with pytest.raises(edm.BadRequestError) as caught:
        client.customer.accounts.list(sort="colour")
    assert caught.value.errors[0].field == "sort"


# --------------------------------------------------------------------------- async


def test_async_for_walks_every_page(base_url: str, token: str, seeded: Seeded) -> None:
    async def main() -> None:
        async with edm.AsyncClient(base_url, token) as client:
            walked = [a.name async for a in client.customer.accounts.list(limit=2, sort="name")]
            assert walked == ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]

            first = await client.customer.accounts.list(limit=2, sort="name", include_total=True, filter={"tags": {"any": ["emea", "apac"]}})
            assert isinstance(first, AsyncPage) and first.total == 3 and names(first.data) == ["Alpha", "Bravo"]
            pages = [page async for page in first.iter_pages()]
            assert [names(p.data) for p in pages] == [["Alpha", "Bravo"], ["Charlie"]]
            assert [a.name async for a in first] == ["Alpha", "Bravo", "Charlie"]

            pages = [page async for page in client.customer.accounts.list(limit=3, sort="-name").iter_pages()]
            assert [len(p.data) for p in pages] == [3, 2] and pages[-1].next_cursor is None
            with pytest.raises(RuntimeError):
                await pages[-1].get_next_page()
            assert names((await pages[0].get_next_page()).data) == ["Bravo", "Alpha"]

    run(main())


def test_async_list_with_app_token_is_isolated(base_url: str, tenant: str, seeded: Seeded) -> None:
    async def main() -> None:
        token = make_token(tenant, app="app-x", scope="crm.accounts.read crm.accounts.write")
        async with edm.AsyncClient(base_url, token) as client:
            mine = await client.customer.accounts.create(name="Appy")
            assert [a.id async for a in client.customer.accounts.list(limit=1)] == [mine.id]

    run(main())
