"""``edm worker`` with ``EDM_NATS_URL`` publishes what the API writes (docs/nats.md, "Running it")."""

from __future__ import annotations

import asyncio
import subprocess
import time

import httpx
import nats.js.errors
import orjson
import pytest

from edm.kit.settings import Settings
from tests.conftest import ACCOUNTS, Started, base_settings, make_token
from tests.nats.conftest import stream_messages
from tests.processes import EDM, clean_env

pytestmark = pytest.mark.nats


def test_edm_worker_publishes_api_writes(stream_settings: Settings, serve_for_test: Started, tenant: str) -> None:
    url = serve_for_test(base_settings(stream_settings.database_url, stream_settings.data_dir))
    env = clean_env(
        EDM_DATABASE_URL=stream_settings.database_url,
        EDM_NATS_URL=stream_settings.nats_url or "",
        EDM_NATS_STREAM=stream_settings.nats_stream,
        EDM_NATS_SUBJECT_PREFIX=stream_settings.nats_subject_prefix,
    )
    worker = subprocess.Popen([EDM, "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {make_token(tenant)}"}, timeout=30) as http:
            created = http.post(ACCOUNTS, json={"name": "Published"}).json()
            assert http.patch(f"{ACCOUNTS}/{created['id']}", json={"industry": "Retail"}).status_code == 200
        prefix = stream_settings.nats_subject_prefix
        deadline = time.monotonic() + 20
        mine: list[tuple[str, dict[str, object]]] = []
        while len(mine) < 2 and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.2)
            try:
                messages = asyncio.run(stream_messages(stream_settings))
            except nats.js.errors.NotFoundError:  # the worker has not created the stream yet
                continue
            mine = [(m.subject, orjson.loads(m.data or b"")) for m in messages if m.subject.split(".")[1] == tenant]
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0].decode()
    assert "publishing to NATS" in output, output[-2000:]
    assert [subject for subject, _ in mine] == [f"{prefix}.{tenant}.accounts.created", f"{prefix}.{tenant}.accounts.updated"]
    assert [(event["account_id"], event["version"]) for _, event in mine] == [(created["id"], 1), (created["id"], 2)]
