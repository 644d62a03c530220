"""The user documentation (README.md, docs/) stays complete and inside the repository.

* every problem ``code`` the service can answer with is in docs/errors.md;
* every ``EDM_*`` setting the server reads is in docs/operating.md's table;
* every link in the README and docs/ points at a file (and heading) of this
  repository, never outside it;
* no source, test or doc cites a contract document users do not have.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import edm
from edm.kit.errors import APIError

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _subclasses(cls: type) -> set[type]:
    return {cls, *(s for sub in cls.__subclasses__() for s in _subclasses(sub))}


def _emitted_codes() -> set[str]:
    """Codes of every APIError class in the server's modules, and of problems written out by hand."""
    for module in pkgutil.walk_packages(edm.__path__, "edm."):
        if not module.name.startswith(("edm.sdk", "edm.codegen", "edm.migrations")):
            importlib.import_module(module.name)
    codes = {
        cls.code
        for cls in _subclasses(APIError)
        if cls.__module__.startswith("edm.")
        and not cls.__module__.startswith("edm.sdk")
    }
    for path in (ROOT / "src" / "edm").rglob("*.py"):
        if "sdk" not in path.parts:
            codes |= set(re.findall(r"urn:edm:problem:([a-z_]+)", path.read_text()))
    return codes


def test_every_problem_code_is_documented() -> None:
    documented = set(
        re.findall(
            r"^\| \d{3} \| `([a-z_]+)` \|",
            (ROOT / "docs" / "errors.md").read_text(),
            re.MULTILINE,
        )
    )
    codes = _emitted_codes()
    assert {
        "internal_error",
        "validation_error",
        "idempotency_conflict",
        "request_header_fields_too_large",
    } <= codes
    assert codes - documented == set(), "add these codes to docs/errors.md"
    assert documented - codes == set(), (
        "docs/errors.md lists codes the service does not emit"
    )


def test_every_setting_is_documented() -> None:
    settings = set(
        re.findall(
            r"\bEDM_[A-Z_]+\b",
            (ROOT / "src" / "edm" / "kit" / "settings.py").read_text(),
        )
    )
    table = set(
        re.findall(
            r"^\| `(EDM_[A-Z_]+)` \|",
            (ROOT / "docs" / "operating.md").read_text(),
            re.MULTILINE,
        )
    )
    assert len(settings) > 20
    assert settings - table == set(), "add these settings to docs/operating.md"


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(), re.MULTILINE)
    return {
        re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings
    }


def test_links_stay_inside_the_repository() -> None:
    for doc in DOCS:
        for target in _LINK.findall(doc.read_text()):
            assert not target.startswith(
                ("http:", "https:", "//")
            ) or target.startswith("http://127.0.0.1"), (doc.name, target)
            file, _, anchor = target.partition("#")
            resolved = (doc.parent / file).resolve() if file else doc
            assert resolved.is_relative_to(ROOT), (doc.name, target)
            assert resolved.exists(), (
                f"{doc.name} links to a missing {target}"
            )
            if anchor and resolved.suffix == ".md":
                assert anchor in _anchors(resolved), (
                    f"{doc.name} links to a missing heading {target}"
                )


def test_nothing_cites_the_contract_documents_users_do_not_have() -> None:
    citation = re.compile(r"SPEC §|SPEC\.md|DESIGN\.md|STYLE\.md|\.\./shared")
    for path in [*DOCS, *(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]:
        if path != Path(__file__).resolve():
            found = citation.findall(path.read_text())
            assert not found, (
                f"{path.relative_to(ROOT)} cites {found}: cite the repository's docs/ instead"
            )
