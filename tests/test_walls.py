"""The walls between the layers (pyproject.toml's import-linter contracts, run by `make lint`) hold on the tree as it
is, and each contract bites: a copy of the tree with one forbidden import planted fails `lint-imports`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# (module file, the import planted in it, the contract it must break)
PLANTED = [
    ("authz/api/admin.py", "import authz.store.accounts", "The JSON edge goes through authz/service, never to SQL"),
    ("admin_ui/org.py", "from authz.store import audit", "The portal goes through authz/service, never to SQL"),
    ("admin_ui/guard.py", "import authz.api.http", "The portal and the JSON API are siblings above authz/service"),
    ("authz/decider.py", "import authz.bus", "The decider is pure: fed by the loader and by events"),
    ("authz/decider.py", "import authz.cache.sessions", "The decider is pure: fed by the loader and by events"),
    ("authz/service/users.py", "import admin_ui.web", "Use cases know nothing of HTTP or HTML"),
    ("authz/store/accounts.py", "import authz.service.users", "SQL sits below the use cases and the edge"),
    ("authz/store/grants.py", "import authz.policyfile.diff", "SQL sits below policy-file tooling"),
    ("authz/identity.py", "import authz.api.http",
     "Who is asking, the instance state and the value parsers sit below both edges"),
    ("authz/domain/grants.py", "import authz.store.accounts", "The rules and the change events are pure: no I/O"),
    ("authz/events.py", "import authz.cache.snapshot", "The rules and the change events are pure: no I/O"),
    ("authz/explain.py", "import casbin", "Only authz/policy.py touches the Casbin engine"),
    ("authz/sync.py", "import sqlalchemy_adapter", "The Casbin adapter is SQL: store only"),
    ("authz/api/operator.py", "from sqlalchemy.orm import Session", "Only authz/store talks SQL"),
    ("authz/app.py", "import sqlalchemy.exc", "Only authz/store talks SQL"),
    ("authz/service/members.py", "import redis", "Only the bus and the cache talk Redis"),
    ("admin_ui/web.py", "import smtplib", "Only authz/mail.py talks SMTP"),
]


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, before the installed (editable) packages of the checkout.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packages and of pyproject.toml, to plant imports in."""
    out = tmp_path_factory.mktemp("tree")
    for package in ("authz", "admin_ui"):
        shutil.copytree(ROOT / package, out / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", out / "pyproject.toml")
    return out


def test_the_tree_keeps_every_wall(tree: Path) -> None:
    result = _lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in result.stdout


@pytest.mark.parametrize(("path", "planted", "contract"), PLANTED, ids=[f"{p}:{i}" for p, i, _ in PLANTED])
def test_a_planted_import_breaks_its_wall(tree: Path, path: str, planted: str, contract: str) -> None:
    target = tree / path
    original = target.read_text(encoding="utf-8")
    target.write_text(f"{original}\n{planted}  # planted by the test\n", encoding="utf-8")
    try:
        result = _lint_imports(tree)
    finally:
        target.write_text(original, encoding="utf-8")
    assert result.returncode != 0, result.stdout
    assert f"{contract} BROKEN" in result.stdout, result.stdout


def _contracts() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [c["name"] for c in config["tool"]["importlinter"]["contracts"]]


def test_every_contract_is_proven_by_a_planted_import() -> None:
    assert sorted(set(_contracts())) == sorted({contract for _, _, contract in PLANTED})
