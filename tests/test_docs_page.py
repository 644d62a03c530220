"""The /docs page in a real headless Chromium: it renders the accounts
operations from the OpenAPI document, loads nothing from outside, and shows
the list operation's parameters on a screen height or two (filters are
documented once there, not once per field and operator)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

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
    assert base + "/docs/assets/redoc.standalone.js" in requested and base + "/docs/openapi.json" in requested
    assert 'download-definition-url="/api/v1/openapi.json"' in page.text, "the download button gives the complete document"
    outside = {u for u in requested if not u.startswith(base + "/")}
    assert not outside, f"the page requested {outside}"


# --------------------------------------------------------------------------- the page as a person sees it

VIEWPORT = {"width": 1440, "height": 900}  # a common laptop screen
# From the first "… Parameters" heading of an operation to the end of its last parameter table.
_PARAMETERS_HEIGHT = """(() => {
  const operation = document.querySelector('[id="operation/%s"]');
  if (!operation) return null;
  const headings = [...operation.querySelectorAll("h5")].filter(h => /Parameters$/.test(h.textContent.trim()));
  if (!headings.length) return null;
  const tables = headings.map(h => h.nextElementSibling).filter(t => t && t.tagName === "TABLE");
  const top = headings[0].getBoundingClientRect().top;
  const bottom = Math.max(...tables.map(t => t.getBoundingClientRect().bottom));
  headings[0].scrollIntoView();
  return {height: bottom - top, rows: tables.reduce((n, t) => n + t.querySelectorAll(":scope > tbody > tr").length, 0)};
})()"""


class DevTools:
    """A page of headless Chromium driven over the DevTools protocol."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket, self.last_id = socket, 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.last_id += 1
        self.socket.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == self.last_id:
                assert "error" not in message, message
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")


@contextmanager
def _browser() -> Iterator[DevTools]:
    profile = tempfile.mkdtemp(prefix="edm-chromium-")
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--remote-debugging-port=0", f"--user-data-dir={profile}",
        "about:blank",
    ]  # fmt: skip
    browser = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert browser.stderr is not None
        for line in browser.stderr:  # Chromium says where its DevTools listen before anything else
            found = re.search(r"DevTools listening on ws://([^/]+)/", line)
            if found:
                break
        else:
            raise AssertionError("chromium exited before its DevTools were up")
        pages = httpx.get(f"http://{found.group(1)}/json/list").json()
        address = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
        with connect(address, max_size=None) as socket:
            yield DevTools(socket)
    finally:
        browser.terminate()
        browser.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def _wait_for(page: DevTools, expression: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value is not None:
            return value
        time.sleep(0.25)
    raise AssertionError(f"the page never answered {expression[:80]!r}")


def test_the_list_operation_parameters_fit_on_two_screen_heights(servers: dict[str, str], tmp_path: Path) -> None:
    with _browser() as page:
        page.call("Emulation.setDeviceMetricsOverride", **VIEWPORT, deviceScaleFactor=1, mobile=False)
        page.call("Page.navigate", url=servers["sqlite"] + "/docs")
        listed = _wait_for(page, _PARAMETERS_HEIGHT % "listAccounts")
        time.sleep(0.5)  # let the layout settle, then measure again
        listed = page.evaluate(_PARAMETERS_HEIGHT % "listAccounts")
        shot = page.call("Page.captureScreenshot", format="png")["data"]
        samples = page.evaluate(
            'document.querySelector(\'[id="operation/listAccounts"]\').parentElement.innerText'
        )
    (tmp_path / "docs-list-accounts.png").write_bytes(base64.b64decode(shot))
    assert len(base64.b64decode(shot)) > 10_000, "the screenshot shows a rendered page"
    assert listed["height"] <= 2 * VIEWPORT["height"], (
        f"the list operation's parameters take {listed['height']:.0f} px, more than two {VIEWPORT['height']} px screens"
    )
    assert 8 <= listed["rows"] <= 12, listed  # limit, cursor, sort, q, fields, …, one filter, X-Request-Id
    assert "filter[FIELD][OP]=VALUE" in samples and "curl" in samples and "Python" in samples
