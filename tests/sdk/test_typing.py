"""The SDK type-checks under ``mypy --strict``, and so does a user's code calling it.

``typing_sample.py`` pins the types a user sees (``assert_type``); the
expected-error sample proves the check bites: a wrong use of a returned model
must be reported, which it would not be if the SDK's types were ``Any``.  mypy
runs with its command-line flags only (no config file) and its cache in a
temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = Path(__file__).with_name("typing_sample.py")

WRONG_USE = """\
import edm

def wrong(client: edm.Client) -> int:
    account = client.customer.accounts.get("acc_01J0000000000000000000000")
    version: str = account.version
    return account.name
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for the module: the second run reuses what the first learned of httpx and pydantic."""
    return tmp_path_factory.mktemp("mypy") / "cache"


def mypy(*targets: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MYPYPATH": ""}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", "", "--cache-dir", str(cache), *map(str, targets)],
        check=False,
        cwd=cache.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_sdk_and_a_typed_use_of_it_pass_mypy_strict(cache: Path) -> None:
    result = mypy(ROOT / "src" / "edm" / "sdk", SAMPLE, cache=cache)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_mypy_reports_a_wrong_use_of_a_model(tmp_path: Path, cache: Path) -> None:
    wrong = tmp_path / "wrong_use.py"
    wrong.write_text(WRONG_USE)
    result = mypy(wrong, cache=cache)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'wrong_use.py:5: error: Incompatible types in assignment (expression has type "int | None", variable has type "str")' in result.stdout
    assert 'wrong_use.py:6: error: Incompatible return value type (got "str | None", expected "int")' in result.stdout
