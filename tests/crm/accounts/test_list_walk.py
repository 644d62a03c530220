"""A cursor walk visits every record exactly once, while others insert and delete."""

from __future__ import annotations

import threading
from typing import Any

from tests.conftest import ACCOUNTS, Api


def _walk(api: Api, params: dict[str, Any], between_pages: Any = None) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = api.request("GET", ACCOUNTS, params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [r["id"] for r in body["data"]]
        if between_pages:
            between_pages()
        if not body["has_more"]:
            assert body["next_cursor"] is None
            return seen
        cursor = body["next_cursor"]


def test_walk_while_other_clients_insert_and_delete(api: Api) -> None:
    alive = {api.created({"name": f"initial {n:03d}", "annual_revenue": n % 4 or None})["id"] for n in range(45)}
    stop = threading.Event()

    def writer() -> None:
        other = api.as_(sub="other-client")
        for n in range(200):
            if stop.is_set():
                return
            other.created({"name": f"late {n}", "annual_revenue": n % 3})

    for params in ({"limit": 4}, {"limit": 5, "sort": "name"}, {"limit": 3, "sort": "-annual_revenue,name"}):
        doomed = set(sorted(alive)[3::8])  # deleted by another client, one per page
        pending = set(doomed)

        def between(pending: set[str] = pending) -> None:
            if pending:
                assert api.delete(pending.pop()).status_code == 204

        stop.clear()
        thread = threading.Thread(target=writer)
        thread.start()
        try:
            seen = _walk(api, params, between)
        finally:
            stop.set()
            thread.join()
        alive -= doomed
        assert len(seen) == len(set(seen)), f"a record was visited twice with {params}"
        assert alive <= set(seen), f"records skipped with {params}: {alive - set(seen)}"


def test_no_result_cap_on_a_walk(api: Api) -> None:
    ids = {api.created({"name": f"r{n}"})["id"] for n in range(230)}
    seen = _walk(api, {"limit": 200})
    assert set(seen) == ids and len(seen) == 230
