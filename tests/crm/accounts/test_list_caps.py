"""What one list request may carry, on both databases.

Each cap of the list grammar is a 400 naming the parameter and the limit; the
largest request within every cap at once is served, with a statement that
grows with its filters but not with their lists; far past the caps the answer
is a quick 400, not a 503 after the database gave up.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from edm.crm.engine.listing import (
    MAX_FILTERS,
    MAX_LIST_VALUES,
    MAX_QUERY_BYTES,
    MAX_VALUE_LENGTH,
)
from edm.crm.registry import REGISTRY
from tests.conftest import ACCOUNTS, Api, assert_problem

Params = list[tuple[str, str]]
FIELD_NAMES = REGISTRY["accounts"].resource.field_names


def _query_bytes(params: Params) -> int:
    """The length of the query string as httpx sends it."""
    return len(httpx.URL(ACCOUNTS, params=params).query)


def _listed(api: Api, params: Params) -> httpx.Response:
    return api.request("GET", ACCOUNTS, params=params)


def _list_statements(statements: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [
        (sql, args)
        for sql, args in statements
        if "FROM accounts" in sql and "ORDER BY" in sql
    ]


def test_a_query_string_past_its_limit_is_400_naming_it(api: Api) -> None:
    values = ",".join(
        f"{i:03d}" + "v" * 200 for i in range(MAX_LIST_VALUES)
    )  # each value and list within its cap
    params = [("filter[custom_fields.code][in]", values)]
    assert _query_bytes(params) > MAX_QUERY_BYTES
    body = assert_problem(
        _listed(api, params), 400, "invalid_parameter", "query_string"
    )
    assert str(MAX_QUERY_BYTES) in body["detail"]


def test_more_filters_than_the_limit_is_400_naming_filter(api: Api) -> None:
    filters = [(f"filter[custom_fields.k{i}][ne]", "x") for i in range(MAX_FILTERS)]
    assert _listed(api, filters).status_code == 200
    body = assert_problem(
        _listed(api, [*filters, ("filter[name]", "x")]),
        400,
        "invalid_parameter",
        "filter",
    )
    assert str(MAX_FILTERS) in body["detail"]


@pytest.mark.parametrize(
    "parameter, other_values",
    [
        ("filter[name]", ""),
        ("filter[name][in]", ",b"),
        ("filter[description][contains]", ""),
        ("filter[website][starts_with]", ""),
        ("filter[custom_fields.code]", ""),
        ("filter[custom_fields.code][nin]", ",b"),
        ("filter[custom_fields.code][gte]", ""),
        ("filter[tags][any]", ",b"),
        ("filter[tags]", ""),
    ],
)
def test_a_value_past_its_length_limit_is_400_naming_the_parameter(
    api: Api, parameter: str, other_values: str
) -> None:
    longest = "x" * MAX_VALUE_LENGTH
    assert _listed(api, [(parameter, longest + other_values)]).status_code == 200
    body = assert_problem(
        _listed(api, [(parameter, longest + "x" + other_values)]),
        400,
        "invalid_parameter",
        parameter,
    )
    assert str(MAX_VALUE_LENGTH) in body["detail"]


def test_more_field_names_than_the_resource_has_is_400_naming_fields(api: Api) -> None:
    every = ",".join(FIELD_NAMES)
    assert _listed(api, [("fields", every)]).status_code == 200
    body = assert_problem(
        _listed(api, [("fields", every + ",id")]), 400, "invalid_parameter", "fields"
    )
    assert str(len(FIELD_NAMES)) in body["detail"]


def _largest_request(name: str) -> Params:
    """Every cap at once: 25 filters of 100 values, every field, four sort keys, a 200-character q,
    a 200-record page and a total, padded with long values to exactly the query string limit.
    ``custom_fields.k{i} = i`` and the name match it."""
    lists = [[str(v) for v in range(MAX_LIST_VALUES)] for _ in range(MAX_FILTERS)]

    def params() -> Params:
        filters = [
            (f"filter[custom_fields.k{i}][in]", ",".join(values))
            for i, values in enumerate(lists)
        ]
        return [
            *filters,
            ("fields", ",".join(FIELD_NAMES)),
            ("sort", "name,-annual_revenue,employee_count,-created_at"),
            ("q", name),
            ("limit", "200"),
            ("include_total", "true"),
        ]

    slots = [
        (i, j)
        for j in range(MAX_LIST_VALUES - 1, MAX_FILTERS, -1)
        for i in range(MAX_FILTERS)
    ]
    for (
        i,
        j,
    ) in slots:  # values past k{i} are free to lengthen: the record holds k{i} = i < 20
        deficit = MAX_QUERY_BYTES - _query_bytes(params())
        if deficit == 0:
            break
        grown = min(MAX_VALUE_LENGTH, len(lists[i][j]) + deficit)
        lists[i][j] = lists[i][j] + "x" * (grown - len(lists[i][j]))
    return params()


def test_the_largest_request_within_every_cap_is_served_by_a_statement_of_one_parameter_per_list(
    api: Api, statements: list[tuple[str, Any]]
) -> None:
    name = "Largest request " + "n" * 184
    record = api.created(
        {"name": name, "custom_fields": {f"k{i}": i for i in range(MAX_FILTERS)}}
    )
    api.created({"name": name, "custom_fields": {"k0": 0}})  # fails 19 filters
    params = _largest_request(name)
    assert _query_bytes(params) == MAX_QUERY_BYTES

    statements.clear()
    response = _listed(api, params)
    assert response.status_code == 200, response.text
    page = response.json()
    assert [r["id"] for r in page["data"]] == [record["id"]] and page["total"] == 1
    listed = _list_statements(statements)
    assert listed, statements
    for (
        _,
        args,
    ) in listed:  # a few per filter, none per value: before, 600 per list on PostgreSQL
        assert len(args) <= 10 * MAX_FILTERS, len(args)

    one_byte_more = [
        (key, value + " " if key == "q" else value) for key, value in params
    ]  # q is trimmed
    assert _query_bytes(one_byte_more) == MAX_QUERY_BYTES + 1
    assert_problem(
        _listed(api, one_byte_more), 400, "invalid_parameter", "query_string"
    )


def test_a_hundred_filters_of_a_hundred_values_are_a_400_before_any_sql(api: Api) -> None:
    """Before the caps: a 503 after 4–6 s on PostgreSQL (bind parameters), "expression tree too large" on SQLite.
    The query string's length is checked first, so this is refused before any SQL is built."""
    params = [
        (f"filter[custom_fields.k{i}][in]", ",".join(map(str, range(100))))
        for i in range(100)
    ]
    response = _listed(api, params)
    assert_problem(response, 400, "invalid_parameter", "query_string")
    small_values = [(f"filter[custom_fields.k{i}]", "1") for i in range(100)]
    assert_problem(_listed(api, small_values), 400, "invalid_parameter", "filter")
