"""Property: no body, however hostile, makes the server answer 5xx or store half a write."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edm.crm.accounts.resource import ACCOUNTS as RESOURCE
from tests.conftest import ACCOUNTS, Api

FIELDS = RESOURCE.fields

# Any character, lone surrogates and NUL included.
text = st.text(st.characters(codec=None, categories=None), max_size=40) | st.sampled_from(
    ["", " ", "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV", "usr-00000000-0000-0000-0000-000000000000", "https://x.example", "2024-01-01T00:00:00Z", "\x00", "\ud800"]
)
scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False) | text
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=12)
keys = st.sampled_from([f.name for f in FIELDS]) | text
bodies = st.dictionaries(keys, json_values, max_size=8)
ALLOWED = {200, 201, 400, 404, 409, 413, 415, 422}


def _send(api: Api, method: str, path: str, body: object) -> int:
    raw = json.dumps(body, ensure_ascii=True, allow_nan=True).encode()
    response = api.request(method, path, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code in ALLOWED, (response.status_code, response.text, raw[:300])
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
    return response.status_code


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_create_never_fails_on_the_server(api: Api, body: dict) -> None:
    _send(api, "POST", ACCOUNTS, body)
    _send(api, "POST", ACCOUNTS, {"name": "fuzz", **body})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_update_never_fails_on_the_server_nor_half_applies(api: Api, body: dict) -> None:
    record = api.created({"name": "fuzz target", "custom_fields": {"keep": 1}})
    status = _send(api, "PATCH", f"{ACCOUNTS}/{record['id']}", body)
    after = api.get(record["id"]).json()
    if status != 200:
        assert after == record
    else:
        assert after["version"] == 2
