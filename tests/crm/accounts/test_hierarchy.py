"""parent_account_id: exists in the tenant, not itself, never a cycle."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ulid import ULID

from tests.conftest import Api, assert_problem


def _chain(api: Api, depth: int) -> list[dict]:
    records = [api.created({"name": "level 0"})]
    for level in range(1, depth):
        records.append(api.created({"name": f"level {level}", "parent_account_id": records[-1]["id"]}))
    return records


def test_three_levels_link_up(api: Api) -> None:
    top, middle, bottom = _chain(api, 3)
    assert middle["parent_account_id"] == top["id"]
    assert api.get(bottom["id"]).json()["parent_account_id"] == middle["id"]


def test_parent_alias_is_stored_canonically(api: Api) -> None:
    parent = api.created()
    alias = f"acc-{ULID.from_str(parent['id'][4:]).to_uuid()}"
    child = api.created({"name": "child", "parent_account_id": alias})
    assert child["parent_account_id"] == parent["id"]


def test_an_account_cannot_be_its_own_parent(api: Api) -> None:
    record = api.created()
    assert_problem(api.patch(record["id"], {"parent_account_id": record["id"]}), 422, "validation_error", "parent_account_id")
    assert api.get(record["id"]).json()["version"] == 1


def test_cycles_are_refused_at_any_depth(api: Api) -> None:
    top, middle, bottom = _chain(api, 3)
    for ancestor_of_top in (middle, bottom):
        response = api.patch(top["id"], {"parent_account_id": ancestor_of_top["id"]})
        assert_problem(response, 422, "validation_error", "parent_account_id")
    assert api.get(top["id"]).json()["parent_account_id"] is None


def test_moving_within_the_tree_is_fine(api: Api) -> None:
    top, middle, bottom = _chain(api, 3)
    moved = api.patch(bottom["id"], {"parent_account_id": top["id"]})
    assert moved.status_code == 200 and moved.json()["parent_account_id"] == top["id"]
    # now middle and bottom are siblings; middle under bottom is no cycle
    assert api.patch(middle["id"], {"parent_account_id": bottom["id"]}).status_code == 200
    assert api.patch(bottom["id"], {"parent_account_id": None}).json()["parent_account_id"] is None


def test_missing_or_deleted_parent_is_refused(api: Api) -> None:
    gone = api.created()
    assert api.delete(gone["id"]).status_code == 204
    for parent in (gone["id"], "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"):
        assert_problem(api.create({"name": "x", "parent_account_id": parent}), 422, "validation_error", "parent_account_id")


def test_concurrent_swaps_never_form_a_cycle(api: Api) -> None:
    for _ in range(5):
        a, b = api.created({"name": "a"}), api.created({"name": "b"})
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(
                pool.map(
                    lambda pair: api.patch(pair[0]["id"], {"parent_account_id": pair[1]["id"]}),
                    [(a, b), (b, a)],
                )
            )
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 422], [r.text for r in results]
        parents = {api.get(x["id"]).json()["parent_account_id"] for x in (a, b)}
        assert None in parents
