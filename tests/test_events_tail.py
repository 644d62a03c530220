"""``edm events tail``: follows a resource's feed over HTTP, one JSON line per event, until Ctrl-C."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import time

from tests.conftest import Api
from tests.processes import EDM, clean_env


def _line(process: subprocess.Popen[str], within_s: float = 15) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], within_s)
    assert ready, "no event printed in time"
    return process.stdout.readline()


def test_tail_prints_each_event_then_follows_new_ones_and_says_where_to_resume(api: Api) -> None:
    first = api.created({"name": "Before"})
    env = clean_env(EDM_BASE_URL=str(api.http.base_url), EDM_TOKEN=api.token)
    process = subprocess.Popen(
        [EDM, "events", "tail", "--interval", "0.1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert json.loads(_line(process))["account_id"] == first["id"]
        time.sleep(0.3)
        second = api.created({"name": "After"})  # written while it follows
        event = json.loads(_line(process))
        assert (event["type"], event["account_id"], event["version"]) == ("account.created", second["id"], 1)
        assert set(event) == {"id", "type", "account_id", "version", "at", "by", "data"}
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert "resume with --after " in stderr


def test_tail_without_a_token_says_what_it_needs() -> None:
    run = subprocess.run([EDM, "events", "tail"], env=clean_env(), capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "--url and --token (or EDM_BASE_URL and EDM_TOKEN)" in run.stderr


def test_tail_with_a_refused_token_fails_with_the_answer(api: Api) -> None:
    env = clean_env(EDM_BASE_URL=str(api.http.base_url), EDM_TOKEN="not-a-token")
    run = subprocess.run([EDM, "events", "tail"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "answered 401" in run.stderr
