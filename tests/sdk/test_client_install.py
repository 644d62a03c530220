"""``pip install edm`` as an SDK user runs it: the wheel, in a fresh virtualenv, without extras.

The project is built into a wheel once (from a copy of the sources, so the
checkout gets no ``build/`` or ``*.egg-info``) and installed into an empty
virtualenv by this interpreter's pip (``--python``), reusing pip's cache.
That virtualenv must hold none of the server's packages, yet its SDK talks to
a live server, its ``edm`` command answers ``--version`` and sends
``serve``/``migrate``/``token`` to ``pip install 'edm[server]'``, and mypy
sees the installed SDK's types (``py.typed``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edm.kit.migrate import upgrade
from edm.kit.settings import Settings
from tests.conftest import SECRET, base_settings, make_token

pytestmark = pytest.mark.slow  # builds a wheel and a virtualenv: about 20 s

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
SERVER_DISTRIBUTIONS = {"fastapi", "starlette", "uvicorn", "asyncpg", "sqlalchemy", "aiosqlite", "alembic", "typer", "pyjwt"}
SERVER_NEEDED = "this needs the server: pip install 'edm[server]'"


def _run(*command: str | Path, cwd: Path, timeout: float = 240, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run outside this test session: no PYTHONPATH (the source tree), no EDM_* settings, no active venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDM_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={**env, **kwargs.pop("env", {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path_factory.mktemp("dist")
    _ok(_run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", dist, source, cwd=dist))
    (built,) = dist.glob("edm-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` directory of a fresh virtualenv with ``pip install edm`` (the wheel, no extras)."""
    root = tmp_path_factory.mktemp("client-venv")
    _ok(_run(sys.executable, "-m", "venv", "--without-pip", root, cwd=root))
    python = root / "bin" / "python"
    _ok(_run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", wheel, cwd=root))
    return root / "bin"


@pytest.fixture(scope="module")
def installed(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The distributions in the client-only virtualenv, normalized names."""
    code = "import importlib.metadata as m, json; print(json.dumps([d.metadata['Name'] for d in m.distributions()]))"
    names = json.loads(_ok(_run(venv / "python", "-c", code, cwd=tmp_path_factory.mktemp("cwd"))))
    return {name.lower().replace("_", "-") for name in names}


@pytest.fixture
def live_server(tmp_path: Path, serve_for_test: Any) -> Iterator[str]:
    """A server of this checkout on a fresh SQLite database (no PostgreSQL needed)."""
    url = f"sqlite:///{tmp_path / 'edm.sqlite3'}"
    upgrade(Settings(database_url=url, jwt_secret=SECRET))
    yield serve_for_test(base_settings(url, tmp_path / "data"))


def test_the_wheel_ships_the_type_markers_and_needs_only_the_sdk(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"edm-{VERSION}.dist-info/METADATA").decode()
    assert {"edm/py.typed", "edm/sdk/py.typed", "edm/__main__.py", "edm/sdk/_client.py"} <= names
    required = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    unconditional = {requirement.split(">")[0].split("[")[0] for requirement in required if "extra ==" not in requirement}
    assert unconditional == {"httpx", "anyio", "pydantic"}


def test_a_client_only_install_holds_none_of_the_server(installed: set[str]) -> None:
    assert {"edm", "httpx", "pydantic"} <= installed
    assert installed & SERVER_DISTRIBUTIONS == set()
    assert len(installed) < 20, sorted(installed)  # was about 45 with the server's packages


def test_the_client_only_sdk_talks_to_a_live_server(venv: Path, live_server: str, tmp_path: Path) -> None:
    script = tmp_path / "use_the_sdk.py"
    script.write_text(
        "import json, sys\n"
        "import edm\n"
        "client = edm.Client(sys.argv[1], sys.argv[2])\n"
        "created = client.customer.accounts.create(name='Globex', tags=['b2b'])\n"
        "fetched = client.customer.accounts.get(created.id)\n"
        "listed = [a.id for a in client.customer.accounts.list(filter={'tags': 'b2b'})]\n"
        "try:\n"
        "    client.customer.accounts.get('acc_01ARZ3NDEKTSV4RRFFQ69G5FAV')\n"
        "except edm.NotFoundError as error:\n"
        "    missing = error.status_code\n"
        "server_side = sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'sqlalchemy', 'edm.kit'))\n"
        "print(json.dumps({'type': type(fetched).__name__, 'id': fetched.id, 'created': created.id, 'name': fetched.name,\n"
        "                  'version': fetched.version, 'listed': listed, 'missing': missing, 'server_side': server_side}))\n"
    )
    out = json.loads(_ok(_run(venv / "python", script, live_server, make_token("tenant-client-install"), cwd=tmp_path)))
    assert out["type"] == "Account" and out["id"] == out["created"] and out["name"] == "Globex" and out["version"] == 1
    assert out["listed"] == [out["id"]] and out["missing"] == 404 and out["server_side"] == []


def test_the_edm_command_without_the_server(venv: Path, tmp_path: Path) -> None:
    assert _ok(_run(venv / "edm", "--version", cwd=tmp_path)).strip() == f"edm {VERSION}"
    assert _ok(_run(venv / "python", "-m", "edm", "--version", cwd=tmp_path)).strip() == f"edm {VERSION}"
    for command in (["serve"], ["serve", "--port", "8123"], ["migrate"], ["token", "--tenant", "acme", "--sub", "me"]):
        result = _run(venv / "edm", *command, cwd=tmp_path, timeout=30)
        assert result.returncode == 2, result
        assert result.stdout == ""
        assert result.stderr.startswith(f"edm {command[0]}: {SERVER_NEEDED} (")
        assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
    assert list(tmp_path.iterdir()) == []  # and nothing was created
    usage = _run(venv / "edm", "--help", cwd=tmp_path)
    assert usage.returncode == 0 and "pip install 'edm[server]'" in usage.stdout


def test_mypy_sees_the_installed_sdks_types(venv: Path, tmp_path: Path) -> None:
    """mypy reads the installed package's types only because it ships ``py.typed``."""
    sample = tmp_path / "typing_sample.py"
    shutil.copy(Path(__file__).with_name("typing_sample.py"), sample)
    mypy = [sys.executable, "-m", "mypy", "--strict", "--config-file", "", "--cache-dir", tmp_path / "cache"]
    result = _run(*mypy, "--python-executable", venv / "python", sample, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 1 source file" in result.stdout
