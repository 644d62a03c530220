"""Metrics for Prometheus, and one structured log line per request."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import ACCOUNTS, SECRET, Api, make_token
from tests.processes import EDM, clean_env, free_port


def _metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def test_metrics_count_requests_by_route_method_and_status(api: Api) -> None:
    before = api.http.get("/metrics").text
    record = api.created()
    api.get(record["id"])
    api.get("acc_01ARZ3NDEKTSV4RRFFQ69G5FAV")
    after = api.http.get("/metrics")
    assert after.status_code == 200 and after.headers["content-type"].startswith("text/plain")
    route = "/api/v1/crm/accounts/{account_id}"
    for status, delta in (("200", 1), ("404", 1)):
        grown = _metric(after.text, "edm_http_requests_total", route=route, method="GET", status=status) - _metric(
            before, "edm_http_requests_total", route=route, method="GET", status=status
        )
        assert grown >= delta
    assert _metric(after.text, "edm_http_request_duration_seconds_count", route=ACCOUNTS, method="POST") >= 1
    assert "edm_db_pool_connections" in after.text
    assert record["id"] not in after.text  # routes are templates, never raw paths


def test_two_workers_report_together_and_logs_are_json_without_secrets(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(EDM_JWT_SECRET=SECRET, EDM_DATA_DIR=str(tmp_path / "data"))
    log_file = (tmp_path / "stderr.log").open("w")
    process = subprocess.Popen([EDM, "serve", "--port", str(port), "--workers", "2"], cwd=tmp_path, env=env, stderr=log_file)
    base = f"http://127.0.0.1:{port}"
    token = make_token("tenant-logs")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
            for n in range(20):  # spread over both workers
                assert client.post(ACCOUNTS, json={"name": f"secret-body-{n}"}).status_code == 201
            metrics = client.get("/metrics").text
        assert _metric(metrics, "edm_http_requests_total", route=ACCOUNTS, method="POST", status="201") == 20
    finally:
        process.terminate()
        process.wait(timeout=30)
        log_file.close()
    lines = [json.loads(line) for line in (tmp_path / "stderr.log").read_text().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request" and line.get("route") == ACCOUNTS]
    assert len(requests) == 20
    assert {(r["tenant_id"], r["status"], r["method"]) for r in requests} == {("tenant-logs", 201, "POST")}
    assert all(r["request_id"].startswith("req_") and r["duration_ms"] >= 0 for r in requests)
    text = (tmp_path / "stderr.log").read_text()
    assert token not in text and "secret-body" not in text and SECRET not in text
    assert os.path.isdir(tmp_path / "data")
