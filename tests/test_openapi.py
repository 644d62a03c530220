"""GET /api/v1/openapi.json: a valid OpenAPI 3.1 document that describes
every operation, parameter, header, body and error of the API — derived from
the field table and the listing allow-lists — and describes them exactly: the
server takes what the document allows and refuses what it does not
(Schemathesis checks that at large in test_schemathesis.py; here the
boundaries are pinned one by one).  GET /docs/openapi.json, what the /docs
page renders, is the same document with each list operation's filters
documented once.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from edm.crm.accounts.resource import ACCOUNTS
from edm.crm.engine.listing import FILTER_OPERATORS, MAX_FILTERS, MAX_LIST_VALUES, MAX_VALUE_LENGTH
from edm.server.app import create_app
from edm.server.openapi import build_openapi, docs_view
from tests.conftest import ACCOUNTS as ACCOUNTS_PATH
from tests.conftest import Api, base_settings

BY_NAME, CLIENT_FIELDS, FIELDS = ACCOUNTS.by_name, ACCOUNTS.client_fields, ACCOUNTS.fields
FILTERABLE, SORTABLE = ACCOUNTS.filterable, ACCOUNTS.sortable

ITEM = ACCOUNTS_PATH + "/{account_id}"
RESTORE = ITEM + "/restore"
SDK_NAMES = {
    ("get", ACCOUNTS_PATH): "listAccounts",
    ("post", ACCOUNTS_PATH): "createAccount",
    ("get", ITEM): "getAccount",
    ("patch", ITEM): "updateAccount",
    ("delete", ITEM): "deleteAccount",
    ("post", RESTORE): "restoreAccount",
    ("get", ITEM + "/history"): "getAccountHistory",
    ("get", ACCOUNTS_PATH + "/events"): "listAccountEvents",
}
MISSING = "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"


@pytest.fixture(scope="module")
def document(servers: dict[str, str]) -> dict[str, Any]:
    documents = [httpx.get(url + "/api/v1/openapi.json").json() for url in servers.values()]
    assert all(d == documents[0] for d in documents)  # one server per database in this run
    return documents[0]


def _operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return document["paths"][path][method]


def _parameters(document: dict[str, Any], method: str, path: str) -> dict[tuple[str, str], dict[str, Any]]:
    item = document["paths"][path]
    every = [*item.get("parameters", []), *item[method].get("parameters", [])]
    return {(p["in"], p["name"]): p for p in every}


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        _, section, kind, name = node["$ref"].split("/")
        node = document[section][kind][name]
    return node


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    root = {**schema, "components": document["components"]}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _schema_of(document: dict[str, Any], name: str) -> jsonschema.Validator:
    return _validator(document, {"$ref": f"#/components/schemas/{name}"})


# --------------------------------------------------------------------------- the document


def test_it_is_a_valid_openapi_3_1_document(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)  # openapi-spec-validator, 3.1 rules
    broken = {**document, "paths": {ACCOUNTS_PATH: {"get": {"responses": {"200": {"content": 1}}}}}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)  # the validator does reject a bad document


def test_every_example_is_valid_against_its_schema(document: dict[str, Any]) -> None:
    examples = 0
    for item in document["paths"].values():
        for method, operation in item.items():
            if method == "parameters" or "requestBody" not in operation:
                continue
            for media in operation["requestBody"]["content"].values():
                _validator(document, media["schema"]).validate(media["example"])
                examples += 1
    assert examples == 6  # create (json), update (json, merge-patch); of accounts and of webhook endpoints


def test_it_is_built_once_at_start_up(api: Api, tmp_path: Path) -> None:
    app = create_app(base_settings(f"sqlite:///{tmp_path}/unused.sqlite3", tmp_path))
    assert app.openapi() is app.openapi()
    assert app.openapi() == build_openapi() == api.http.get("/api/v1/openapi.json").json()


def test_the_docs_page_document_is_the_complete_one_with_filters_documented_once(servers: dict[str, str]) -> None:
    full = build_openapi()
    view = httpx.get(servers["sqlite"] + "/docs/openapi.json").json()
    assert view == docs_view(full)
    validate(view)
    assert "/api/v1/openapi.json" in view["info"]["description"]
    listed = _parameters(view, "get", ACCOUNTS_PATH)
    assert [name for _, name in listed if name.startswith("filter")] == ["filter"]
    assert len(listed) <= 10, "the reference page shows the list operation's parameters on a screen or two"
    complete = _parameters(full, "get", ACCOUNTS_PATH)
    assert {k: v for k, v in complete.items() if not k[1].startswith("filter")} == {
        k: v for k, v in listed.items() if k[1] != "filter"
    }
    described = listed[("query", "filter")]
    assert (described["style"], described["explode"]) == ("deepObject", True)
    text = described["description"]
    assert "filter[FIELD][OP]=VALUE" in text
    for op in {op for ops in FILTER_OPERATORS.values() for op in ops} | {"under"}:
        assert f"**{op}**" in text, f"operator {op} is not explained"
    for name in [*FILTERABLE, "tags", "custom_fields.KEY"]:
        assert re.search(rf"\b{re.escape(name)}\b", text), f"{name} is not listed as filterable"
    for limit in (MAX_FILTERS, MAX_LIST_VALUES, MAX_VALUE_LENGTH):
        assert str(limit) in text
    rest = {**view, "paths": {p: i for p, i in view["paths"].items() if p != ACCOUNTS_PATH}}
    assert rest == {**full, "info": rest["info"], "paths": {p: i for p, i in full["paths"].items() if p != ACCOUNTS_PATH}}


def test_every_operation_carries_curl_and_python_samples(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            samples = operation["x-codeSamples"]
            labels = [s["label"] for s in samples]
            expected = ["curl", "Python"]
            for sdk in operation.get("x-sdk-methods", [])[1:]:
                expected += [f"curl ({sdk.rsplit('.', 1)[1]})", f"Python ({sdk.rsplit('.', 1)[1]})"]
            assert labels == expected, (method, path)
            for sample in samples:
                assert "EDM_BASE_URL" in sample["source"] or "edm.Client()" in sample["source"]
                if operation["security"]:
                    assert "$EDM_TOKEN" in sample["source"] or "edm.Client()" in sample["source"]
    assert "EDM_BASE_URL" in document["info"]["description"] and "EDM_TOKEN" in document["info"]["description"]


def test_security_servers_tags(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert document["security"] == [{"bearer": []}]
    assert document["servers"] and document["servers"][0]["url"] == "/"
    assert {t["name"] for t in document["tags"]} == {"accounts", "webhooks", "meta"}
    assert _operation(document, "get", "/api/v1/manifest")["security"] == []


def test_every_operation_has_its_sdk_name_scopes_and_tag(document: dict[str, Any]) -> None:
    found = {
        (method, path): op["operationId"]
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method != "parameters" and path.startswith(ACCOUNTS_PATH)
    }
    assert found == SDK_NAMES
    scopes = {
        "listAccounts": ["crm.accounts.read"],
        "getAccount": ["crm.accounts.read"],
        "createAccount": ["crm.accounts.write"],
        "updateAccount": ["crm.accounts.write"],
        "deleteAccount": ["crm.accounts.write"],
        "restoreAccount": ["crm.accounts.write"],
        "getAccountHistory": ["crm.accounts.read"],
        "listAccountEvents": ["crm.accounts.read"],
    }
    for (method, path), operation_id in SDK_NAMES.items():
        op = _operation(document, method, path)
        assert op["tags"] == ["accounts"]
        assert op["security"] == [{"bearer": scopes[operation_id]}]
        assert op["x-sdk-methods"][0].startswith("client.customer.accounts.")
    assert _operation(document, "delete", ITEM)["x-sdk-methods"] == [
        "client.customer.accounts.delete",
        "client.customer.accounts.purge",
    ]
    assert _operation(document, "delete", ITEM)["x-scopes"] == ["crm.accounts.write", "crm.admin"]


def test_every_webhook_operation_is_documented_admin_only_with_its_sdk_method(document: dict[str, Any]) -> None:
    found = {
        (method, path): (op["operationId"], op["x-sdk-methods"], op["security"], op["tags"])
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method != "parameters" and path.startswith("/api/v1/crm/webhooks")
    }
    names = {
        ("post", ""): ("createWebhookEndpoint", "create"),
        ("get", ""): ("listWebhookEndpoints", "list"),
        ("get", "/{endpoint_id}"): ("getWebhookEndpoint", "get"),
        ("patch", "/{endpoint_id}"): ("updateWebhookEndpoint", "update"),
        ("delete", "/{endpoint_id}"): ("deleteWebhookEndpoint", "delete"),
        ("get", "/{endpoint_id}/deliveries"): ("listWebhookDeliveries", "deliveries"),
        ("post", "/{endpoint_id}/deliveries/{delivery_id}/replay"): ("replayWebhookDelivery", "replay"),
    }
    assert found == {
        (method, "/api/v1/crm/webhooks" + tail): (op_id, [f"client.webhooks.{sdk}"], [{"bearer": ["crm.admin"]}], ["webhooks"])
        for (method, tail), (op_id, sdk) in names.items()
    }
    created = _operation(document, "post", "/api/v1/crm/webhooks")["responses"]["201"]
    assert created["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/WebhookEndpointWithSecret"}
    assert "secret" not in document["components"]["schemas"]["WebhookEndpoint"]["properties"]


def test_the_schemas_come_from_the_field_table(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert list(schemas["Account"]["properties"]) == [f.name for f in FIELDS]
    assert schemas["Account"]["required"] == [f.name for f in FIELDS]
    assert list(schemas["AccountCreate"]["properties"]) == [f.name for f in CLIENT_FIELDS]
    assert schemas["AccountCreate"]["required"] == ["name"]
    assert list(schemas["AccountPatch"]["properties"]) == [*(f.name for f in CLIENT_FIELDS), "version"]
    assert "required" not in schemas["AccountPatch"]
    page = schemas["AccountList"]
    assert page["required"] == ["object", "data", "has_more", "next_cursor"]
    assert set(page["properties"]) == {"object", "data", "has_more", "next_cursor", "total"}
    problem = schemas["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code", "request_id", "errors"}
    for field in FIELDS:
        described = schemas["Account"]["properties"][field.name]
        assert described["description"].startswith(field.description)


def test_the_list_parameters_come_from_the_allow_lists(document: dict[str, Any]) -> None:
    parameters = _parameters(document, "get", ACCOUNTS_PATH)
    names = {name for where, name in parameters if where == "query"}
    assert {"limit", "cursor", "sort", "q", "fields", "include_deleted", "include_total"} <= names
    sort = parameters[("query", "sort")]["schema"]
    assert sorted(sort["enum"]) == sorted([*SORTABLE, *(f"-{s}" for s in SORTABLE)])
    limit = parameters[("query", "limit")]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 200, 50)
    assert parameters[("query", "fields")]["schema"]["items"]["enum"] == [f.name for f in FIELDS]
    expected = {"filter", "filter[tags]", *(f"filter[tags][{op}]" for op in FILTER_OPERATORS["tags"])}
    for name, field in FILTERABLE.items():
        expected.add(f"filter[{name}]")
        expected |= {f"filter[{name}][{op}]" for op in FILTER_OPERATORS[field.kind]}
    expected.add("filter[parent_account_id][under]")
    assert {n for n in names if n.startswith("filter")} == expected
    custom = parameters[("query", "filter")]
    assert (custom["style"], custom["explode"]) == ("deepObject", True)
    assert custom["schema"]["propertyNames"]["pattern"] == r"^custom_fields\.[a-z][a-z0-9_]{0,63}$"
    ops = custom["schema"]["additionalProperties"]["anyOf"][1]["properties"]
    assert list(ops) == list(FILTER_OPERATORS["custom"])
    assert "filter[custom_fields.{key}][gte]" in custom["x-parameter-patterns"]


def test_every_header_is_documented(document: dict[str, Any]) -> None:
    def request_headers(method: str, path: str) -> set[str]:
        return {name for where, name in _parameters(document, method, path) if where == "header"}

    def response_headers(method: str, path: str, status: str) -> set[str]:
        response = _resolve(document, _operation(document, method, path)["responses"][status])
        return set(response.get("headers", {}))

    assert request_headers("get", ACCOUNTS_PATH) == {"X-Request-Id"}
    assert request_headers("post", ACCOUNTS_PATH) == {"Idempotency-Key", "X-Request-Id"}
    assert request_headers("get", ITEM) == {"If-None-Match", "X-Request-Id"}
    assert request_headers("patch", ITEM) == {"If-Match", "X-Request-Id"}
    assert request_headers("delete", ITEM) == {"If-Match", "X-Request-Id"}
    assert request_headers("post", RESTORE) == {"If-Match", "Idempotency-Key", "X-Request-Id"}
    every = {"X-Request-Id", "Cache-Control", "RateLimit-Policy", "RateLimit"}
    assert response_headers("post", ACCOUNTS_PATH, "201") == {"Location", "ETag", "Idempotent-Replayed", *every}
    assert response_headers("get", ITEM, "200") == {"ETag", *every}
    assert response_headers("get", ITEM, "304") == {"ETag", *every}
    assert response_headers("patch", ITEM, "200") == {"ETag", *every}
    assert response_headers("post", RESTORE, "200") == {"ETag", "Idempotent-Replayed", *every}
    for method, path in SDK_NAMES:
        for status, response in _operation(document, method, path)["responses"].items():
            headers = _resolve(document, response).get("headers", {})
            assert every <= set(headers), (method, path, status)
        assert "WWW-Authenticate" in response_headers(method, path, "401")
        assert "Retry-After" in response_headers(method, path, "503")
        assert "Retry-After" in response_headers(method, path, "429")
    assert "Allow" in document["components"]["responses"]["MethodNotAllowed"]["headers"]


def test_every_error_is_a_documented_problem(document: dict[str, Any]) -> None:
    statuses = {
        "listAccounts": {"400", "401", "403", "429", "500", "503"},
        "createAccount": {"400", "401", "403", "409", "413", "415", "422", "429", "500", "503"},
        "getAccount": {"400", "401", "403", "404", "429", "500", "503"},
        "updateAccount": {"400", "401", "403", "404", "409", "412", "413", "415", "422", "428", "429", "500", "503"},
        "deleteAccount": {"400", "401", "403", "404", "412", "428", "429", "500", "503"},
        "restoreAccount": {"400", "401", "403", "404", "409", "412", "422", "428", "429", "500", "503"},
        "getAccountHistory": {"400", "401", "403", "404", "429", "500", "503"},
        "listAccountEvents": {"400", "401", "403", "429", "500", "503"},
    }
    for (method, path), operation_id in SDK_NAMES.items():
        responses = _operation(document, method, path)["responses"]
        errors = {status for status in responses if status >= "400"}
        assert errors == statuses[operation_id], operation_id
        for status in errors:
            content = _resolve(document, responses[status])["content"]
            assert content == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def test_rate_limits_are_documented_on_every_crm_operation_and_only_there(document: dict[str, Any]) -> None:
    too_many = document["components"]["responses"]["TooManyRequests"]
    assert "`rate_limited`" in too_many["description"]
    assert {"Retry-After", "RateLimit", "RateLimit-Policy"} <= set(too_many["headers"])
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            limited = "429" in operation["responses"]
            assert limited == path.startswith("/api/v1/crm/"), (method, path)
            if limited:
                assert operation["responses"]["429"] == {"$ref": "#/components/responses/TooManyRequests"}
    headers = document["components"]["headers"]
    policy = re.compile(headers["RateLimit-Policy"]["schema"]["pattern"])
    limit = re.compile(headers["RateLimit"]["schema"]["pattern"])
    assert policy.search('"tenant";q=200;w=2') and limit.search('"app";r=57;t=1')


# --------------------------------------------------------------------------- the document against the server


def test_real_responses_match_the_documented_schemas(api: Api, document: dict[str, Any]) -> None:
    parent = api.created()
    full = {
        "name": "  Acme  ",
        "owner_id": "usr-0B9B1E04-8CE4-4C9B-8D4B-6B9E3F2C0A11",
        "legal_name": "Acme Inc.",
        "website": "https://acme.example/x?y=1",
        "domain": "Acme.Example",
        "phone": "+1 (555) 010-9999 x12",
        "addresses": [{"type": "billing", "country": "US"}],
        "annual_revenue": 12.5,
        "employee_count": 7,
        "parent_account_id": parent["id"],
        "last_activity_at": "2024-05-01T12:00:00+02:00",
        "custom_fields": {"tier": "gold", "seats": [1, 2.5, None, True]},
        "tags": ["b", "a", "b"],
        "source_type": "backend",
    }
    assert _schema_of(document, "AccountCreate").is_valid(full)
    created = api.create(full)
    assert created.status_code == 201
    _schema_of(document, "Account").validate(created.json())
    etag = _resolve(document, document["components"]["headers"]["ETag"])["schema"]["pattern"]
    location = document["components"]["headers"]["Location"]["schema"]["pattern"]
    assert _validator(document, {"pattern": etag}).is_valid(created.headers["etag"])
    assert _validator(document, {"pattern": location}).is_valid(created.headers["location"])

    page = api.request("GET", ACCOUNTS_PATH, params={"include_total": "true", "limit": "1"})
    _schema_of(document, "AccountList").validate(page.json())
    assert page.json()["total"] == 2 and page.json()["has_more"] is True
    sparse = api.request("GET", ACCOUNTS_PATH, params={"fields": "name,tags"})
    _schema_of(document, "AccountList").validate(sparse.json())
    assert set(sparse.json()["data"][0]) == {"id", "name", "tags"}

    patched = api.patch(
        created.json()["id"], {"tags": None, "domain": None}, headers={"If-Match": created.headers["etag"]}
    )
    _schema_of(document, "Account").validate(patched.json())
    for response in (api.get(MISSING), api.as_(scope="crm.other").get(MISSING), api.http.get(ACCOUNTS_PATH), api.create({})):
        _schema_of(document, "Problem").validate(response.json())
        assert response.headers["content-type"] == "application/problem+json"
    assert api.http.get(ACCOUNTS_PATH).headers["www-authenticate"].startswith("Bearer")


def _as_typed(schema: dict[str, Any], raw: str) -> Any:
    """A query value as the JSON value its schema describes."""
    return {"integer": int, "number": float, "boolean": lambda v: v == "true"}.get(schema.get("type"), str)(raw)


def _sample(kind: str, op: str) -> str:
    """A value the field kind takes for this operator."""
    if op == "exists":
        return "true"
    if op in ("under",) or kind == "id":
        return MISSING
    return {
        "string": "x",
        "custom": "x",
        "enum": "api",
        "boolean": "true",
        "integer": "-3",
        "number": "1.5",
        "date-time": "2024-01-01T00:00:00Z",
    }.get(kind, "a")


def test_the_server_takes_exactly_the_documented_filters(api: Api, document: dict[str, Any]) -> None:
    parameters = _parameters(document, "get", ACCOUNTS_PATH)
    every_op = sorted({op for ops in FILTER_OPERATORS.values() for op in ops} | {"under"})
    candidates = [(f.name, op) for f, op in itertools.product([*FIELDS], [None, *every_op])]
    for name, op in candidates:
        parameter = f"filter[{name}]" + (f"[{op}]" if op else "")
        kind = "tags" if name == "tags" else BY_NAME[name].kind
        value = _sample(kind, op or ("has" if name == "tags" else "eq"))
        documented = ("query", parameter) in parameters
        if documented:
            schema = parameters[("query", parameter)]["schema"]
            assert _validator(document, schema).is_valid(_as_typed(schema, value)), parameter
        response = api.request("GET", ACCOUNTS_PATH, params={parameter: value})
        assert response.status_code == (200 if documented else 400), (parameter, response.text)
    custom = api.request("GET", ACCOUNTS_PATH, params={"filter[custom_fields.tier][starts_with]": "g"})
    assert custom.status_code == 200
    assert api.request("GET", ACCOUNTS_PATH, params={"filter[custom_fields.Tier]": "g"}).status_code == 400


BOUNDARIES: list[tuple[str, str, Any]] = [
    # (where, name, value): the document and the server must agree on each
    ("body", "name", "  x  "),
    ("body", "name", " \u3000\t "),
    ("body", "name", "x" * 255),
    ("body", "name", "  " + "x" * 255 + "\u2003"),
    ("body", "name", "x" * 256),
    ("body", "name", "a\x01b"),
    ("body", "name", "a\x00b"),
    ("body", "phone", "+"),
    ("body", "phone", "(0)"),
    ("body", "owner_id", "usr-0b9b1e04-8ce4-4c9b-8d4b-6b9e3f2c0a11"),
    ("body", "owner_id", "usr-0b9b1e04-8ce4-4c9b-8d4b-6b9e3f2c0a1"),
    ("body", "domain", "example.com"),
    ("body", "domain", "example.123"),
    ("body", "website", "ftp://example.com"),
    ("body", "website", "https://example.com:8080/a"),
    ("body", "employee_count", 2**63 - 1),
    ("body", "employee_count", 2**63),
    ("body", "employee_count", -1),
    ("body", "annual_revenue", 0),
    ("body", "last_activity_at", "2024-02-28T23:59:59.123456+05:30"),
    ("body", "last_activity_at", "2024-02-28T23:59:59"),
    ("body", "tags", ["a", "a"]),
    ("body", "tags", [""]),
    ("body", "custom_fields", {"big": 2**63 - 1, "small": -(2**63), "list": ["x", 1, None]}),
    ("body", "custom_fields", {"big": 2**63}),
    ("body", "custom_fields", {"Bad": 1}),
    ("body", "custom_fields", {"nested": {"a": 1}}),
    ("body", "addresses", [{"type": "home"}]),
    ("body", "addresses", [{"type": "office", "country": "DE", "line1": None}]),
    ("query", "q", "  " + "x" * 200 + " "),
    ("query", "q", "x" * 201),
    ("query", "q", "tab\there"),
    ("query", "limit", 200),
    ("query", "limit", 201),
    ("query", "filter[employee_count][in]", "1,-9223372036854775808,9223372036854775807"),
    ("query", "filter[employee_count][in]", "1,9223372036854775808"),
    ("query", "filter[source_type][in]", "api,backend"),
    ("query", "filter[source_type][in]", "api,nope"),
    ("query", "filter[tags][any]", "a,b"),
    ("query", "filter[tags][any]", "a,,b"),
    ("query", "filter[industry][contains]", ""),
    ("query", "filter[created_at][in]", "2024-01-01T00:00:00Z,2024-12-31T23:59:59.5-01:00"),
    ("header", "If-Match", '"1", W/"2"'),
    ("header", "If-Match", "*"),
    ("header", "If-Match", "1"),
    ("header", "Idempotency-Key", "k" * 255),
    ("header", "Idempotency-Key", "k" * 256),
    ("header", "Idempotency-Key", "with space"),
]


@pytest.mark.parametrize(
    ("where", "name", "value"), BOUNDARIES, ids=[f"{w}-{n}-{i}" for i, (w, n, _) in enumerate(BOUNDARIES)]
)
def test_the_document_and_the_server_agree_on_each_boundary(
    api: Api, document: dict[str, Any], where: str, name: str, value: Any
) -> None:
    if where == "body":
        allowed = _schema_of(document, "AccountCreate").is_valid({"name": "x", name: value})
        response = api.create({"name": "x", name: value} if name != "name" else {"name": value})
        assert response.status_code == (201 if allowed else 422), response.text
    elif where == "query":
        schema = _parameters(document, "get", ACCOUNTS_PATH)[("query", name)]["schema"]
        allowed = _validator(document, schema).is_valid(value)
        response = api.request("GET", ACCOUNTS_PATH, params={name: value})
        assert response.status_code == (200 if allowed else 400), response.text
    else:
        method, path = ("patch", ITEM) if name == "If-Match" else ("post", ACCOUNTS_PATH)
        schema = _parameters(document, method, path)[("header", name)]["schema"]
        allowed = _validator(document, schema).is_valid(value)
        if name == "If-Match":
            record = api.created()
            response = api.patch(record["id"], {"industry": "x"}, headers={name: value})
            # "1" and W/"2" name another version (412); "*" matches; a bare 1 is malformed (400)
            assert response.status_code in ((200, 412) if allowed else (400,)), response.text
        else:
            response = api.create(headers={name: value})
            assert response.status_code == (201 if allowed else 400), response.text
