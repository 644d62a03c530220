"""The security checklist and the tenant-scoped statements, for every registered resource and operation."""

from __future__ import annotations

import pytest

from edm.crm.registry import REGISTRY
from tests.conftest import Api
from tests.crm.contract import CHECKS, Checklist, cases, operations


@pytest.mark.parametrize("resource,operation,check", cases(REGISTRY))
def test_security_checklist(api: Api, resource: str, operation: str, check: str) -> None:
    engine = REGISTRY[resource]
    op = next(o for o in operations(REGISTRY, engine) if o.name == operation)
    CHECKS[check](Checklist(api, engine), op)


@pytest.mark.parametrize("resource", [engine.resource.name for engine in REGISTRY])
def test_every_statement_filters_on_the_tenant(api: Api, resource: str, statements: list[tuple[str, object]]) -> None:
    Checklist(api, REGISTRY[resource]).every_statement_is_tenant_scoped(statements, REGISTRY)


def test_every_operation_of_every_resource_is_checked() -> None:
    """A new resource or operation joins the checklist by being declared: nothing to write here."""
    covered = {(r, o) for r, o, _ in cases(REGISTRY)}
    declared = {(e.resource.name, op.name) for e in REGISTRY for op in operations(REGISTRY, e)}
    assert covered == declared
    assert ("accounts", "purge") in declared and ("accounts", "restore") in declared
