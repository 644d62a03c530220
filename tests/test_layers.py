"""The floors of the house: no import runs back up.

``kit`` (settings, database, errors, auth, web plumbing) → ``crm`` (the
record engine and the resource declarations) → ``server``, ``cli`` and
``codegen``; ``sdk`` stands alone; migrations are frozen snapshots that
import no live code.  Every module's imports (``TYPE_CHECKING`` ones and
those inside functions included) are read with ``ast``.

What a client-only install (``pip install edm``) runs, the package root, the
SDK and the ``edm`` entry point, imports no third-party package beyond the
base dependencies in pyproject.toml; the server's come with ``edm[server]``.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

# What each floor may import from the package (besides itself).
ALLOWED: dict[str, set[str]] = {
    "kit": {"kit"},
    "crm": {"kit", "crm"},
    "server": {"kit", "crm", "server"},
    "cli": {"kit", "crm", "server", "cli"},
    "codegen": {"kit", "crm", "server", "codegen"},
    "sdk": {"sdk", ""},  # "" is the package root (edm.__version__)
    "__main__": {"cli", ""},  # the `edm` entry point: the CLI when the server is installed
    "migrations": set(),
}


def floor(module: str) -> str:
    """``edm.crm.engine.service`` → ``crm``; ``edm`` → ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def edm_imports(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, imported module) for every import of the ``edm`` package in ``source``."""
    found = []
    package = module if is_package else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return [(line, name) for line, name in found if name == "edm" or name.startswith("edm.")]


def back_arrows(source: str, module: str, *, is_package: bool = False) -> list[str]:
    own = floor(module)
    allowed = ALLOWED.get(own)
    if allowed is None:  # edm/__init__.py: the package root re-exports the SDK
        allowed = {"sdk", ""}
    return [
        f"{module}:{line} imports {name} ({floor(name) or 'edm'} is not below {own})"
        for line, name in edm_imports(source, module, is_package=is_package)
        if floor(name) not in allowed
    ]


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted((SRC / "edm").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        out.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return out


def test_every_floor_is_known() -> None:
    floors = {floor(module) for module, _ in _modules()} - {""}
    assert floors <= ALLOWED.keys(), f"a new top-level package needs a place in ALLOWED: {floors - ALLOWED.keys()}"


@pytest.mark.parametrize("module,path", _modules(), ids=[m for m, _ in _modules()])
def test_no_import_runs_back_up(module: str, path: Path) -> None:
    assert back_arrows(path.read_text(), module, is_package=path.name == "__init__.py") == []


def test_the_check_sees_a_back_arrow() -> None:
    """The checker itself: each kind of back-arrow is reported, a downward import is not."""
    assert back_arrows("from edm.server.app import create_app\n", "edm.crm.engine.routes")
    assert back_arrows("import edm.crm.registry\n", "edm.kit.db")
    assert back_arrows("from ..kit import db\n", "edm.sdk._client")
    assert back_arrows("def f():\n    from edm.crm.engine import fields\n", "edm.migrations.versions.x")
    assert back_arrows("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from edm.server import app\n", "edm.crm.x")
    assert back_arrows("from edm.kit.errors import NotFound\n", "edm.crm.engine.service") == []
    assert back_arrows("from edm import __version__\n", "edm.sdk._base_client") == []


# --------------------------------------------------------------------------- the client-only install

CLIENT_FLOORS = {"", "sdk", "__main__"}  # the package root, the SDK, the `edm` entry point
MODULE_OF_DISTRIBUTION = {
    "pyjwt": "jwt", "python-ulid": "ulid", "prometheus-client": "prometheus_client", "nats-py": "nats",
}  # fmt: skip


def _distribution_modules(requirements: list[str]) -> set[str]:
    names = {re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower() for requirement in requirements}
    return {MODULE_OF_DISTRIBUTION.get(name, name.replace("-", "_")) for name in names}


def third_party_imports(source: str) -> set[str]:
    """The top-level names of the non-standard-library, non-``edm`` modules ``source`` imports."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add((node.module or "").split(".")[0])
    return names - set(sys.stdlib_module_names) - {"edm", "__future__"}


def test_the_client_only_install_imports_only_the_base_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = _distribution_modules(project["dependencies"])
    server = _distribution_modules(project["optional-dependencies"]["server"])
    assert {"httpx", "pydantic"} <= base and not {"starlette", "sqlalchemy", "uvicorn", "typer"} & base
    client_modules = [(module, path) for module, path in _modules() if floor(module) in CLIENT_FLOORS]
    assert {"edm", "edm.__main__", "edm.sdk._client"} <= {module for module, _ in client_modules}
    beyond = {module: third_party_imports(path.read_text()) - base for module, path in client_modules}
    assert {module: names for module, names in beyond.items() if names} == {}
    # and the server's extra covers what the rest of the package imports
    others = set().union(*(third_party_imports(path.read_text()) for module, path in _modules()))
    assert others - base - server == set()


def test_the_third_party_check_sees_an_import() -> None:
    assert third_party_imports("import sqlalchemy as sa\nfrom httpx import Client\nimport os\n") == {"sqlalchemy", "httpx"}
    assert third_party_imports("def f():\n    from starlette.requests import Request\n") == {"starlette"}
    assert third_party_imports("from . import sdk\nfrom edm import cli\nfrom __future__ import annotations\n") == set()
    assert _distribution_modules(["pyjwt[crypto]>=2.8", "sqlalchemy[asyncio]>=2.0.30", "fastapi-offline>=1.7"]) == {
        "jwt",
        "sqlalchemy",
        "fastapi_offline",
    }
