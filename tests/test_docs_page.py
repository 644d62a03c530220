"""The /docs page in a real headless Chromium: it renders the accounts
operations from the OpenAPI document, and loads nothing from outside."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.chromium
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _render(url: str, netlog: Path) -> str:
    profile = tempfile.mkdtemp(prefix="edm-chromium-")
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", f"--log-net-log={netlog}", "--net-log-capture-mode=Default",
        "--virtual-time-budget=15000", "--run-all-compositor-stages-before-draw", "--dump-dom", url,
    ]  # fmt: skip
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
    shutil.rmtree(profile, ignore_errors=True)
    assert finished.returncode == 0, finished.stderr[-2000:]
    return finished.stdout


def _page_requests(netlog: Path) -> set[str]:
    """URLs the page itself asked for (Chromium's own background traffic has no origin)."""
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return {
        entry["params"]["url"]
        for entry in log.get("events", [])
        if entry["type"] == start_job and entry.get("params", {}).get("initiator", "not an origin") != "not an origin"
    }


def test_docs_page_renders_the_accounts_api_from_local_assets(servers: dict[str, str], tmp_path: Path) -> None:
    base = servers["sqlite"]
    page = httpx.get(base + "/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "http" not in page.text.replace(base, ""), "the page must reference only this server"
    assert httpx.get(base + "/docs/assets/redoc.standalone.js").status_code == 200
    assert httpx.get(base + "/docs/assets/../../etc/passwd").status_code == 404

    netlog = tmp_path / "netlog.json"
    dom = _render(base + "/docs", netlog)
    for expected in ("/api/v1/crm/accounts", "/api/v1/crm/accounts/{account_id}", "annual_revenue", "custom_fields"):
        assert expected in dom, f"{expected!r} not rendered"
    requested = _page_requests(netlog)
    assert base + "/docs/assets/redoc.standalone.js" in requested and base + "/api/v1/openapi.json" in requested
    outside = {u for u in requested if not u.startswith(base + "/")}
    assert not outside, f"the page requested {outside}"
