"""docs/sdk.md runs: its ``python`` blocks, in order, as one script against a live server.

The guide promises this in its opening lines; a block that stops working (a
renamed argument, a changed default) fails here, not in a reader's terminal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edm.kit.migrate import upgrade
from edm.kit.settings import Settings
from tests.conftest import SECRET, base_settings, make_token

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "sdk.md"


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", markdown, flags=re.DOTALL | re.MULTILINE)


@pytest.fixture
def live_server(tmp_path: Path, serve_for_test: Any) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'edm.sqlite3'}"
    upgrade(Settings(database_url=url, jwt_secret=SECRET))
    yield serve_for_test(base_settings(url, tmp_path / "data"))


def test_the_guide_has_blocks_for_every_method() -> None:
    code = "\n".join(python_blocks(GUIDE.read_text()))
    for method in ("create", "get", "update", "delete", "restore", "purge", "list", "history", "events"):
        assert f"accounts.{method}(" in code, method
    assert "edm.AsyncClient" in code


def test_the_guides_python_blocks_run(live_server: str, tmp_path: Path) -> None:
    script = tmp_path / "guide.py"
    script.write_text("\n\n".join(python_blocks(GUIDE.read_text())))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDM_")}
    env.update(
        EDM_BASE_URL=live_server,
        EDM_TOKEN=make_token(f"tenant-{uuid.uuid4().hex[:12]}"),
        PYTHONPATH=str(ROOT / "src"),
    )
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "None {'tier': 'gold', 'seats': 40}" in lines  # update: None clears, custom_fields merge
    assert "403 forbidden" in lines  # a person's session cannot purge
    assert "webhooks: 403 forbidden" in lines  # nor manage webhooks
    assert "2 4 True" in lines  # a page of 2 of the 4 accounts
    assert any(line.startswith("website — ") for line in lines)  # the problem names the field
    assert "2 update ['Initrode', 'Initrode Corp']" in lines and "1 create [None, 'Initrode']" in lines  # history
    assert "Initrode 1" in lines  # get(as_of=) the first version's instant
    assert "[]" in lines and "account.updated 3" in lines  # the feed resumed from its cursor, then followed
