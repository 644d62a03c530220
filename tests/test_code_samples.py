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
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

import edm
from edm.crm.engine.samples import example_id
from edm.crm.registry import REGISTRY
from edm.crm.webhooks import openapi as webhook_docs
from edm.server.openapi import build_openapi
from tests.conftest import SECRET, Started, base_settings, make_token
from tests.webhooks.harness import Receiver, fresh_database

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
            if sdk_methods[0] and sdk_methods[0].startswith("client.webhooks."):
                continue  # test_every_webhook_code_sample_runs_as_printed
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


# --------------------------------------------------------------------------- webhooks


def _webhook_samples() -> list[Any]:
    found = []
    for item in build_openapi()["paths"].values():
        for method, operation in item.items():
            if method != "parameters" and operation.get("x-sdk-methods", [""])[0].startswith("client.webhooks."):
                name = operation["x-sdk-methods"][0].rsplit(".", 1)[1]
                for sample in operation["x-codeSamples"]:
                    found.append(pytest.param(name, sample, id=f"{operation['operationId']}-{sample['label']}"))
    return found


@pytest.fixture(scope="module")
def hooks_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server that may call 127.0.0.1 (the receiver a user would run is on the internet), delivering itself."""
    data_dir = tmp_path_factory.mktemp("samples-hooks")
    with fresh_database("sqlite", data_dir) as database_url:
        settings = replace(
            base_settings(database_url, data_dir), jwt_secret=SECRET, webhooks_allow_private=True, webhooks_in_process=True
        )
        started = Started()
        try:
            yield started(settings)
        finally:
            started.stop()


@pytest.mark.parametrize(("name", "sample"), _webhook_samples())
def test_every_webhook_code_sample_runs_as_printed(hooks_server: str, name: str, sample: dict[str, str]) -> None:
    """As above, with what a user supplies: their receiver's URL, and their endpoint's and delivery's ids."""
    tenant = f"tenant-{uuid.uuid4().hex[:12]}"
    token = make_token(tenant, scope="crm.admin crm.accounts.write")
    http = httpx.Client(base_url=hooks_server, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": SRC, "EDM_BASE_URL": hooks_server, "EDM_TOKEN": token}
    receiver = Receiver()
    with receiver.serving() as url:
        source = sample["source"].replace(webhook_docs.EXAMPLE_URL, url)
        endpoint = delivery = None
        if name != "create":
            endpoint = http.post("/api/v1/crm/webhooks", json={"url": url, "events": ["*"]}).json()
            source = source.replace(webhook_docs.EXAMPLE_ENDPOINT_ID, endpoint["id"])
            if name == "update":
                assert http.patch(f"/api/v1/crm/webhooks/{endpoint['id']}", json={"enabled": False}).status_code == 200
            if name in ("deliveries", "replay"):
                assert http.post("/api/v1/crm/accounts", json={"name": "Sample"}).status_code == 201
                receiver.wait_for(1)
                delivery = http.get(f"/api/v1/crm/webhooks/{endpoint['id']}/deliveries").json()["data"][0]
                source = source.replace(webhook_docs.EXAMPLE_DELIVERY_ID, delivery["id"])
        output = _run({**sample, "source": source}, env)
        listed = http.get("/api/v1/crm/webhooks").json()["data"]
        if name == "create":
            assert len(listed) == 1 and listed[0]["id"] in output and listed[0]["url"] == url
            return
        assert endpoint is not None
        if name == "list":
            assert endpoint["id"] in output
        elif name == "get":
            assert "enabled" in output
        elif name == "update":
            assert listed[0]["status"] == "enabled"
        elif name == "delete":
            assert listed == []
        elif name == "deliveries":
            assert delivery is not None and ("account.created" in output or delivery["id"] in output)
        else:
            assert name == "replay" and delivery is not None
            assert receiver.wait_for(2)[1].headers["webhook-id"] == delivery["event_id"]
