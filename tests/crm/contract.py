"""The contract every resource keeps, written once and run for each one.

For every operation the resource's routes declare (read from the manifest,
so a new resource or operation is covered without writing anything here):
anonymous → 401, a token without the needed scope → 403, another tenant →
404 exactly like a missing record, another app → 404; none of them changes
the record.  And every SQL statement the operations send carries the
caller's tenant.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from edm.crm.engine.engine import RecordEngine
from edm.crm.manifest import build_manifest
from edm.crm.registry import Registry
from edm.kit.ids import new_id
from tests.conftest import Api, assert_problem

ADMIN = "crm.admin"


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str  # template
    query: dict[str, str]
    scopes: tuple[str, ...]

    @property
    def by_id(self) -> bool:
        return "{" in self.path

    def url(self, record_id: str) -> str:
        return re.sub(r"\{\w+\}", record_id, self.path)


def operations(registry: Registry, engine: RecordEngine) -> list[Operation]:
    resource = next(r for r in build_manifest(registry)["resources"] if r["name"] == engine.resource.name)
    return [Operation(op["name"], op["method"], op["path"], op["query"], tuple(op["scopes"])) for op in resource["operations"]]


class Checklist:
    """The security checklist of one resource, against one server (``api``)."""

    def __init__(self, api: Api, engine: RecordEngine) -> None:
        self.api = api
        self.engine = engine
        self.resource = engine.resource

    def create(self, caller: Api | None = None) -> dict[str, Any]:
        response = (caller or self.api).request("POST", self.resource.path, json=dict(self.resource.create_example))
        assert response.status_code == 201, response.text
        return response.json()

    def read(self, record: dict[str, Any], caller: Api | None = None) -> dict[str, Any]:
        response = (caller or self.api).request("GET", f"{self.resource.path}/{record['id']}")
        assert response.status_code == 200, response.text
        return response.json()

    def call(self, caller: Api | None, op: Operation, record_id: str) -> httpx.Response:
        body = None
        if op.name == "create":
            body = dict(self.resource.create_example)
        elif op.name == "update":
            body = dict(self.resource.patch_example)
        url = op.url(record_id)
        if caller is None:
            return self.api.http.request(op.method, url, params=op.query, json=body)
        return caller.request(op.method, url, params=op.query, json=body)

    def anonymous_is_401(self, op: Operation) -> None:
        record = self.create()
        response = self.call(None, op, record["id"])
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert self.read(record) == record

    def missing_scope_is_403(self, op: Operation) -> None:
        record = self.create()
        others = {self.resource.read_scope, self.resource.write_scope, ADMIN} - set(op.scopes)
        # every scope but the needed ones, another resource's included
        lacking = self.api.as_(scope=" ".join([*sorted(others), "crm.elsewhere.read", "crm.elsewhere.write"]))
        response = self.call(lacking, op, record["id"])
        assert_problem(response, 403, "forbidden")
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
        assert self.read(record) == record
        allowed = self.call(self.api.as_(scope=" ".join(op.scopes)), op, record["id"])
        assert allowed.status_code not in (401, 403) and allowed.status_code < 500, allowed.text

    def other_tenant_is_404(self, op: Operation) -> None:
        record = self.create()
        intruder = self.api.as_(tenant=self.api.tenant + "-other", scope=" ".join(op.scopes))
        body = assert_problem(self.call(intruder, op, record["id"]), 404, "not_found")
        missing = assert_problem(self.call(intruder, op, new_id(self.resource.id_prefix)), 404, "not_found")
        assert {k: v for k, v in body.items() if k != "request_id"} == {k: v for k, v in missing.items() if k != "request_id"}
        assert self.read(record) == record

    def other_app_is_404(self, op: Operation) -> None:
        owner = self.api.as_(app="app-a")
        record = self.create(owner)
        assert_problem(self.call(self.api.as_(app="app-b", scope=" ".join(op.scopes)), op, record["id"]), 404, "not_found")
        human = self.create()
        assert_problem(self.call(self.api.as_(app="app-a", scope=" ".join(op.scopes)), op, human["id"]), 404, "not_found")
        assert self.read(record, owner) == record

    def every_statement_is_tenant_scoped(self, statements: list[tuple[str, object]], registry: Registry) -> None:
        """Run every operation as a human and as an app; each statement touching the table names the tenant."""
        table = self.resource.name
        for app in (None, "app-a"):
            owner = self.api.as_(app=app)
            for op in operations(registry, self.engine):
                record = self.create(owner)
                if op.name == "restore":
                    owner.request("DELETE", f"{self.resource.path}/{record['id']}")
                response = self.call(self.api.as_(app=app, scope=" ".join(op.scopes)), op, record["id"])
                assert response.status_code < 300, (op.name, response.text)
            owner.request("GET", self.resource.path, params={"include_total": "true", "include_deleted": "true", "limit": "1"})
        touching = [(s, p) for s, p in statements if re.search(rf"\b{table}\b", s)]
        assert len(touching) >= 2 * len(operations(registry, self.engine))
        for statement, parameters in touching:
            if statement.lstrip().upper().startswith("INSERT"):
                assert self.api.tenant in str(parameters), statement
                continue
            assert "tenant_id" in statement.split("WHERE", 1)[-1], statement
            assert self.api.tenant in str(parameters), (statement, parameters)



CHECKS: dict[str, Callable[[Checklist, Operation], None]] = {
    "anonymous is 401": Checklist.anonymous_is_401,
    "missing scope is 403": Checklist.missing_scope_is_403,
    "other tenant is 404": Checklist.other_tenant_is_404,
    "other app is 404": Checklist.other_app_is_404,
}
BY_ID_ONLY = {"other tenant is 404", "other app is 404"}


def cases(registry: Registry) -> list[tuple[str, str, str]]:
    """(resource, operation, check) for every registered resource and declared operation."""
    return [
        (engine.resource.name, op.name, check)
        for engine in registry
        for op in operations(registry, engine)
        for check in CHECKS
        if op.by_id or check not in BY_ID_ONLY
    ]
