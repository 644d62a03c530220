"""The generated SDK: checked in as ``python -m edm.codegen`` writes it, and standing alone (no server imports)."""

from __future__ import annotations

import ast
import copy
import inspect
import re
import subprocess
import sys
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

import edm
import edm.sdk.resources
from edm.codegen.sdk import HEADER, SDK_ROOT, CodegenError, camel, diff, generate, load_manifest

SERVER_PACKAGES = ("edm.kit", "edm.crm", "edm.server", "edm.cli", "edm.codegen")


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return load_manifest()


@pytest.fixture(scope="module")
def files(manifest: dict[str, Any]) -> dict[str, str]:
    return generate(manifest)


def test_regenerating_changes_nothing(files: dict[str, str]) -> None:
    for name, text in files.items():
        assert (SDK_ROOT / name).read_text(encoding="utf-8") == text, f"{name} is stale: run python -m edm.codegen"
    assert diff(files) == [], "run python -m edm.codegen"


def test_generation_is_deterministic_and_marked(manifest: dict[str, Any], files: dict[str, str]) -> None:
    assert generate(copy.deepcopy(manifest)) == files
    assert {
        "types/account.py",
        "types/address.py",
        "resources/customer/accounts.py",
        "resources/customer/__init__.py",
    } <= set(files)
    for name, text in files.items():
        assert text.startswith(HEADER + "\n"), name
        compile(text, name, "exec")
    hand_written = {"_base_client.py", "_client.py", "_models.py", "_query.py", "_types.py", "errors.py", "models.py"}
    for name in hand_written | {"pagination.py", "__init__.py", "resources/_resource.py"}:
        assert not (SDK_ROOT / name).read_text(encoding="utf-8").startswith(HEADER), name


def _imports(tree: ast.AST, module: str) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                package = module.rsplit(".", node.level)[0]
                base = f"{package}.{node.module}" if node.module else package
            else:
                base = node.module or ""
            names += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return names


def test_the_sdk_imports_nothing_of_the_server() -> None:
    modules = sorted(SDK_ROOT.rglob("*.py"))
    assert len(modules) >= 15
    offenders = []
    for path in modules:
        module = "edm.sdk." + ".".join(path.relative_to(SDK_ROOT).with_suffix("").parts)
        for name in _imports(ast.parse(path.read_text(encoding="utf-8")), module):
            if any(name == package or name.startswith(package + ".") for package in SERVER_PACKAGES):
                offenders.append(f"{path.relative_to(SDK_ROOT)}: {name}")
    assert offenders == []


def test_importing_the_sdk_loads_no_server_module() -> None:
    code = "import sys, edm, edm.sdk, edm.sdk.models; print('\\n'.join(m for m in sys.modules if m.startswith('edm')))"
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert "edm.sdk.resources.customer.accounts" in loaded
    assert [m for m in loaded if any(m == p or m.startswith(p + ".") for p in SERVER_PACKAGES)] == []


def test_the_package_is_typed() -> None:
    assert (SDK_ROOT / "py.typed").is_file() and (SDK_ROOT.parent / "py.typed").is_file()


def test_every_group_of_the_manifest_hangs_off_the_clients(manifest: dict[str, Any]) -> None:
    """``_client.py`` is hand-written: it must have a property per group the generator makes."""
    groups = {resource["sdk"].split(".")[1] for resource in manifest["resources"]}
    for group in groups:
        for client, prefix in ((edm.Client, ""), (edm.AsyncClient, "Async")):
            prop = inspect.getattr_static(client, group)
            assert isinstance(prop, cached_property), (client, group)
            assert prop.func.__annotations__["return"] == prefix + camel(group)
            assert isinstance(getattr(edm.sdk.resources, prefix + camel(group)), type)
    with edm.Client("http://127.0.0.1:1", "token") as client:
        for resource in manifest["resources"]:
            target: Any = client
            for attribute in resource["sdk"].split(".")[1:]:
                target = getattr(target, attribute)
            assert {op["name"] for op in resource["operations"]} <= {
                name for name in dir(target) if not name.startswith("_")
            }


def test_generated_files_are_ruff_formatted(files: dict[str, str], tmp_path: Path) -> None:
    for name, text in files.items():
        (tmp_path / name.replace("/", "__")).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "format",
            "--check",
            "--diff",
            "--line-length",
            "120",
            "--no-cache",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- the generator is generic, and strict


def _resource(manifest: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(next(r for r in manifest["resources"] if r["name"] == "accounts"))


def test_another_resource_gets_its_own_modules_and_only_its_operations(manifest: dict[str, Any]) -> None:
    contacts = _resource(manifest)
    contacts.update(
        name="contacts", object="contact", path="/api/v1/crm/contacts", sdk="client.customer.contacts", id_prefix="con"
    )
    contacts["operations"] = [
        {
            **op,
            "path": op["path"]
            .replace("accounts/{account_id}", "contacts/{contact_id}")
            .replace("accounts", "contacts"),
        }
        for op in contacts["operations"]
        if op["name"] in ("get", "create")
    ]
    contacts["fields"] = [f for f in contacts["fields"] if f["name"] in ("id", "name", "version", "tags")]
    deals = _resource(manifest)
    deals.update(name="deals", object="deal", path="/api/v1/sales/deals", sdk="client.sales.deals", id_prefix="dl")
    deals["operations"] = [
        {
            **op,
            "path": op["path"]
            .replace("/crm/accounts/{account_id}", "/sales/deals/{deal_id}")
            .replace("/crm/accounts", "/sales/deals"),
        }
        for op in deals["operations"]
        if op["name"] == "list"
    ]
    deals["fields"] = [f for f in deals["fields"] if f["name"] != "addresses"]
    files = generate({**manifest, "resources": [*manifest["resources"], contacts, deals]})

    assert {
        "types/contact.py",
        "types/deal.py",
        "resources/customer/contacts.py",
        "resources/sales/deals.py",
        "resources/sales/__init__.py",
    } <= set(files)
    tree = ast.parse(files["resources/customer/contacts.py"])
    methods = {
        node.name: [n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }
    assert methods == {"Contacts": ["get", "create"], "AsyncContacts": ["get", "create"]}
    assert (
        "contact_id: str" in files["resources/customer/contacts.py"]
        and "name: str," in files["resources/customer/contacts.py"]
    )
    assert "def contacts(self) -> Contacts:" in files["resources/customer/__init__.py"]
    assert "def deals(self) -> AsyncDeals:" in files["resources/sales/__init__.py"]
    assert "class Deal(BaseRecord):" in files["types/deal.py"] and "Address" not in files["types/deal.py"]
    # the same Literal in two resources is exported once; a different one under the same name is refused
    assert "SourceType = Literal[" in files["types/deal.py"]
    assert "from edm.sdk.types.deal import Deal\n" in files["types/__init__.py"]
    for name, text in files.items():
        compile(text, name, "exec")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r["fields"][1].update(kind="money"), "unknown field kind 'money'"),
        (lambda r: r["operations"].append({**r["operations"][0], "name": "merge"}), "unknown operation"),
        (lambda r: r["operations"][0].update(method="POST"), "expected GET"),
        (lambda r: r.update(sdk="client.accounts"), "is not client.<group>.accounts"),
        (lambda r: r["listing"]["parameters"].append("page"), "listing.parameters"),
        (lambda r: r["fields"][8]["limits"].pop("enum"), "enum"),
    ],
)
def test_the_generator_refuses_what_it_does_not_know(manifest: dict[str, Any], change: Any, message: str) -> None:
    resource = _resource(manifest)
    change(resource)
    with pytest.raises(CodegenError, match=re.escape(message)):
        generate({**manifest, "resources": [resource]})


def test_check_mode_reports_a_stale_file(files: dict[str, str], tmp_path: Path) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert diff(files, tmp_path) == []
    (tmp_path / "types/account.py").write_text(files["types/account.py"] + "# edited\n", encoding="utf-8")
    (tmp_path / "types/gone.py").write_text(HEADER + "\n", encoding="utf-8")
    assert diff(files, tmp_path) == ["types/account.py", "types/gone.py"]
