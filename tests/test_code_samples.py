"""The curl and Python samples of the API reference (each operation's
``x-codeSamples``) run as printed against a live server, with only what a
user supplies: ``EDM_BASE_URL`` and ``EDM_TOKEN`` in the environment, and a
real record's id where the sample shows the example id.  Each run is then
checked by its effect on the server, so a sample that calls the wrong
method, path or body fails here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

import edm
from edm.crm.engine.samples import example_id
from edm.crm.registry import REGISTRY
from edm.server.openapi import build_openapi
from tests.conftest import make_token

SRC = str(Path(edm.__file__).resolve().parents[1])
CURL = shutil.which("curl")


def _samples() -> list[Any]:
    """(operation, SDK method name or None, resource or None, sample), one per sample in the document."""
    by_sdk = {engine.resource.sdk: engine.resource for engine in REGISTRY}
    found = []
    for item in build_openapi()["paths"].values():
        for method, operation in item.items():
            if method == "parameters":
                continue
            sdk_methods = operation.get("x-sdk-methods", [None])
            for sample in operation["x-codeSamples"]:
                sdk = sdk_methods[1] if "(" in sample["label"] else sdk_methods[0]
                resource = by_sdk[sdk.rsplit(".", 1)[0]] if sdk else None
                name = sdk.rsplit(".", 1)[1] if sdk else None
                found.append(
                    pytest.param(operation["operationId"], name, resource, sample, id=f"{operation['operationId']}-{sample['label']}")
                )
    return found


def _run(sample: dict[str, str], env: dict[str, str]) -> str:
    """Run the sample as a user would paste it; fail on an error exit or (curl) a non-2xx answer."""
    if sample["lang"] == "Python":
        done = subprocess.run([sys.executable, "-c", sample["source"]], env=env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"{sample['source']}\n{done.stderr[-3000:]}"
        return done.stdout
    assert CURL, "curl is needed to run the curl samples"
    command = sample["source"] + " -w '\\n%{http_code}'"
    done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
    body, _, status = done.stdout.rpartition("\n")
    assert status.startswith("2"), f"{command}\n→ {status} {body}"
    return body


@pytest.mark.parametrize(("operation_id", "name", "resource", "sample"), _samples())
def test_every_code_sample_runs_as_printed(
    servers: dict[str, str], operation_id: str, name: str | None, resource: Any, sample: dict[str, str]
) -> None:
    base = servers["sqlite"]
    tenant = f"tenant-{uuid.uuid4().hex[:12]}"
    token = make_token(tenant, scope="crm.admin") if name == "purge" else make_token(tenant)
    http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {make_token(tenant)}"}, timeout=30)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": SRC, "EDM_BASE_URL": base, "EDM_TOKEN": token}

    if resource is None:  # a public document
        assert _run(sample, env).strip()
        return
    path = resource.path
    record: dict[str, Any] | None = None
    if name != "create":
        made = http.post(path, json=dict(resource.create_example))
        assert made.status_code == 201, made.text
        record = made.json()
        if name == "restore":
            assert http.delete(f"{path}/{record['id']}").status_code == 204
        sample = {**sample, "source": sample["source"].replace(example_id(resource), record["id"])}
        assert record["id"] in sample["source"] or name in ("list", "events")

    output = _run(sample, env)

    listed = http.get(path, params={"include_deleted": "true"}).json()["data"]
    if name == "create":
        assert len(listed) == 1 and listed[0]["id"] in output
        assert {k: listed[0][k] for k in resource.create_example} == dict(resource.create_example)
        return
    assert record is not None
    now = http.get(f"{path}/{record['id']}")
    if name == "list":
        assert record["id"] in output, "the list sample's filter must match the create example"
    elif name == "get":
        assert now.status_code == 200 and record["id"] in output
    elif name == "update":
        assert now.json()["version"] == record["version"] + 1
        changed = {k for k, v in resource.patch_example.items() if v is not None}
        assert changed and all(now.json()[k] != record[k] for k in changed)
    elif name == "delete":
        assert now.status_code == 404 and listed and listed[0]["is_deleted"] is True
    elif name == "purge":
        assert now.status_code == 404 and listed == []
    elif name == "history":
        assert "create" in output  # its one entry: op create
    elif name == "events":
        assert record["id"] in output and f"{resource.noun}.created" in output
    else:
        assert name == "restore" and now.status_code == 200 and now.json()["is_deleted"] is False
