"""GET /api/v1/manifest (docs/operating.md, "Endpoints for operators"): resources, operations and the field table.

The manifest is generated from fields.py and listing.py; these tests check it
against the field table of docs/accounts.md itself, against the listing allow-lists,
against the server (each operation's scopes are what the server asks for) and
against the SDK (each operation's SDK method sends that request).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from edm.crm.accounts.resource import ACCOUNTS as RESOURCE
from edm.crm.engine.listing import FILTER_OPERATORS
from tests.conftest import ACCOUNTS, Api, make_token

CLIENT_FIELDS, FIELDS = RESOURCE.client_fields, RESOURCE.fields
FILTERABLE, SORTABLE = RESOURCE.filterable, RESOURCE.sortable

FIELD_TABLE = Path(__file__).resolve().parents[1] / "docs" / "accounts.md"
MANIFEST = "/api/v1/manifest"


@pytest.fixture
def manifest(api: Api) -> dict[str, Any]:
    response = api.http.get(MANIFEST)  # no Authorization header
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]
    return response.json()


def _accounts(manifest: dict[str, Any]) -> dict[str, Any]:
    (resource,) = manifest["resources"]
    return resource


def _spec_field_table() -> list[tuple[str, str, str]]:
    """(name, type, writer) for every field of the documented field table, in its order."""
    section = FIELD_TABLE.read_text()
    rows: list[tuple[str, str, str]] = []
    for line in section.splitlines():
        if not line.startswith("| "):
            continue
        cells = [c.strip().replace("\0", "|") for c in line.replace("\\|", "\0").strip().strip("|").split("|")]
        if cells[0] == "Field":
            continue
        names = [n.strip() for n in re.split(r"[/,]", cells[0])]
        types = [t.strip() for t in cells[1].split(" / ")] if " / " in cells[1] else [cells[1]] * len(names)
        writer = cells[2].split(",")[0].strip()
        rows += [(name, kind, writer) for name, kind in zip(names, types, strict=True)]
    return rows


SPEC_TYPES = {"bool": "boolean", "string|null": "string"}


def test_the_manifest_needs_no_token_and_matches_its_documented_schema(api: Api, manifest: dict[str, Any]) -> None:
    document = api.http.get("/api/v1/openapi.json").json()
    jsonschema.validate(manifest, {"$ref": "#/components/schemas/Manifest", "components": document["components"]})
    assert manifest["openapi"] == "/api/v1/openapi.json" and manifest["api_version"] == document["info"]["version"]
    resource = _accounts(manifest)
    assert (resource["name"], resource["path"], resource["sdk"]) == ("accounts", ACCOUNTS, "client.customer.accounts")
    wrong_method = api.http.post(MANIFEST, json={})
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "GET"


def test_the_field_table_is_the_documented_one(manifest: dict[str, Any]) -> None:
    spec = _spec_field_table()
    fields = _accounts(manifest)["fields"]
    assert [f["name"] for f in fields] == [name for name, _, _ in spec]
    for field, (name, kind, writer) in zip(fields, spec, strict=True):
        assert field["type"] == SPEC_TYPES.get(kind, kind), (name, field["type"], kind)
        assert field["writer"] == writer, name


def test_the_field_table_is_the_one_of_fields_py_and_the_listing_allow_lists(manifest: dict[str, Any]) -> None:
    fields = {f["name"]: f for f in _accounts(manifest)["fields"]}
    assert list(fields) == [f.name for f in FIELDS]
    for field in FIELDS:
        entry = fields[field.name]
        assert entry["kind"] == field.kind
        assert entry["writer"] == field.writer
        assert entry["description"] == field.description
        assert entry["required_on_create"] == field.required
        assert entry["limits"].get("max_length") == field.max_length
        assert entry["limits"].get("enum") == (list(field.enum) if field.enum else None)
        assert entry["sortable"] == (field.name in SORTABLE)
        if field.name in FILTERABLE:
            expected = list(FILTER_OPERATORS[field.kind]) + (["under"] if field.name == "parent_account_id" else [])
            assert (entry["filter"], entry["operators"]) == (f"filter[{field.name}]", expected)
        elif field.name == "tags":
            assert (entry["filter"], entry["operators"]) == ("filter[tags]", ["has", "any", "all"])
        elif field.name == "custom_fields":
            assert entry["filter"] == "filter[custom_fields.{key}]"
            assert entry["operators"] == list(FILTER_OPERATORS["custom"])
        else:
            assert (entry["filterable"], entry["filter"], entry["operators"]) == (False, None, [])
    assert [n for n, f in fields.items() if f["writer"] == "client"] == [f.name for f in CLIENT_FIELDS]
    assert [n for n, f in fields.items() if f["required_on_create"]] == ["name"]
    listing = _accounts(manifest)["listing"]
    assert listing["sort"] == list(SORTABLE) and listing["default_sort"] == "-created_at"
    assert (listing["default_limit"], listing["max_limit"]) == (50, 200)


def test_the_limits_are_what_the_server_enforces(api: Api, manifest: dict[str, Any]) -> None:
    limits = {f["name"]: f["limits"] for f in _accounts(manifest)["fields"]}
    for name in ("legal_name", "source", "phone", "description"):
        longest = limits[name]["max_length"]
        value = "1" * longest
        assert api.create({"name": "x", name: value}).status_code == 201, name
        assert api.create({"name": "x", name: value + "1"}).status_code == 422, name
    assert api.create({"name": "x", "tags": [str(i) for i in range(limits["tags"]["max_items"])]}).status_code == 201
    assert (
        api.create({"name": "x", "tags": [str(i) for i in range(limits["tags"]["max_items"] + 1)]}).status_code == 422
    )
    too_many = {"addresses": [{"type": "office"}] * (limits["addresses"]["max_items"] + 1)}
    assert api.create({"name": "x", **too_many}).status_code == 422
    keys = limits["custom_fields"]["max_keys"]
    assert api.create({"name": "x", "custom_fields": {f"k{i}": i for i in range(keys)}}).status_code == 201
    assert api.create({"name": "x", "custom_fields": {f"k{i}": i for i in range(keys + 1)}}).status_code == 422


def test_each_operation_is_what_the_server_and_the_sdk_do(api: Api, manifest: dict[str, Any]) -> None:
    import edm.sdk

    document = api.http.get("/api/v1/openapi.json").json()
    operations = _accounts(manifest)["operations"]
    assert [op["name"] for op in operations] == [
        "list", "create", "events", "get", "update", "delete", "purge", "restore", "history"
    ]  # fmt: skip
    base = str(api.http.base_url)
    sent: list[httpx.Request] = []
    for op in operations:
        # documented: the operation id sits at this method and path
        assert document["paths"][op["path"]][op["method"].lower()]["operationId"] == op["operation_id"]
        assert op["sdk"] == f"client.customer.accounts.{op['name']}"

        # the scopes it names are enough, and a token without them is refused
        record = api.created()
        path = op["path"].replace("{account_id}", record["id"])
        if op["name"] == "restore":
            assert api.delete(record["id"]).status_code == 204
        body = {"name": "y"} if op["method"] in ("POST", "PATCH") and op["name"] != "restore" else None
        scoped = {"Authorization": f"Bearer {make_token(api.tenant, scope=' '.join(op['scopes']))}"}
        response = api.http.request(op["method"], path, params=op["query"], json=body, headers=scoped)
        assert response.status_code == op["status"], (op["name"], response.text)
        other = {"Authorization": f"Bearer {make_token(api.tenant, scope='crm.other')}"}
        refused = api.http.request(op["method"], path, params=op["query"], json=body, headers=other)
        assert refused.status_code == 403, op["name"]

        # the SDK method it names sends that request
        target = api.created()
        if op["name"] == "restore":
            api.delete(target["id"])
        with httpx.Client(event_hooks={"request": [sent.append]}) as http:
            client = edm.sdk.Client(
                base, make_token(api.tenant, scope="crm.accounts.read crm.accounts.write crm.admin"), http_client=http
            )
            method = client
            for attribute in op["sdk"].split(".")[1:]:
                method = getattr(method, attribute)
            args = () if op["name"] in ("list", "create", "events") else (target["id"],)
            kwargs = {"name": "z"} if op["name"] in ("create", "update") else {}
            result = method(*args, **kwargs)
            if op["name"] in ("list", "history", "events"):
                next(iter(result))
        request = sent[-1]
        assert request.method == op["method"], op["name"]
        assert request.url.path == op["path"].replace("{account_id}", target["id"]), op["name"]
        assert dict(request.url.params) == op["query"], op["name"]


def test_the_change_types_are_what_history_and_the_feed_return(api: Api, manifest: dict[str, Any]) -> None:
    changes = _accounts(manifest)["changes"]
    assert changes["event_record_key"] == "account_id"
    record = api.created()
    assert api.patch(record["id"], {"name": "v2"}).status_code == 200
    assert api.delete(record["id"]).status_code == 204
    assert api.request("POST", f"{ACCOUNTS}/{record['id']}/restore").status_code == 200
    history = api.request("GET", f"{ACCOUNTS}/{record['id']}/history").json()["data"]
    assert [entry["op"] for entry in reversed(history)] == changes["history_ops"]
    assert api.as_(scope="crm.admin").delete(record["id"], params={"purge": "true"}).status_code == 204
    events = api.request("GET", f"{ACCOUNTS}/events", params={"limit": 200}).json()["data"]
    assert [event["type"] for event in events if event["account_id"] == record["id"]] == changes["event_types"]
    assert {"id", "type", "account_id", "version", "at", "by", "data"} == set(events[0])
