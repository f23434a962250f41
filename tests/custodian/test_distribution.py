"""The custodian tool as its own distribution (packages/escrow-custodian).

A custodian installs it alone into an empty virtual environment on an offline machine;
it must bring the crypto core's libraries and nothing of the server's stack.
"""

from __future__ import annotations

import ast
import importlib.metadata
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGE = Path("packages/escrow-custodian")
SHIPPED = ("escrow/crypto", "escrow/custodian")
SERVER_STACK = {"django", "celery", "djangorestframework", "kombu", "redis", "psycopg",
                "psycopg-binary", "gunicorn", "django-redis"}


def _project(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))["project"]


def _requirements(path: Path) -> dict[str, Requirement]:
    found = (Requirement(r) for r in _project(path)["dependencies"])
    return {r.name.lower(): r for r in found}


def _third_party_imports() -> set[str]:
    names = set()
    for directory in SHIPPED:
        for source in (REPOSITORY / directory).glob("*.py"):
            for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.partition(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.partition(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in {"escrow"}}


def test_the_package_declares_exactly_what_the_shipped_code_imports() -> None:
    distributions = importlib.metadata.packages_distributions()
    imported = {distributions[name][0].lower() for name in _third_party_imports()}
    assert set(_requirements(REPOSITORY / PACKAGE / "pyproject.toml")) == imported


def test_the_package_pins_the_same_bounds_as_the_server() -> None:
    server = _requirements(REPOSITORY / "pyproject.toml")
    for name, requirement in _requirements(REPOSITORY / PACKAGE / "pyproject.toml").items():
        assert requirement.specifier == server[name].specifier, name
    assert _project(REPOSITORY / PACKAGE / "pyproject.toml")["version"] == (
        _project(REPOSITORY / "pyproject.toml")["version"]
    )


def _checkout(tmp_path: Path) -> Path:
    """What a clone holds of the package: its directory and the sources it ships."""
    checkout = tmp_path / "checkout"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    for part in (PACKAGE, *map(Path, SHIPPED)):
        shutil.copytree(REPOSITORY / part, checkout / part, ignore=ignore)
    return checkout


def _run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Away from the repository, whose escrow/ would otherwise shadow what was installed.
    return subprocess.run(  # noqa: S603 - our own interpreter, pip and the installed tool
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_escrow_custodian_installs_alone_without_the_server_stack(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path)
    venv = tmp_path / "venv"
    made = _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    installed = _run(venv / "bin/pip", "install", "--quiet", checkout / PACKAGE, cwd=tmp_path)
    if installed.returncode != 0 and "No matching distribution" in installed.stderr:
        pytest.skip("no package index or wheel source reachable from this machine")
    assert installed.returncode == 0, installed.stderr

    listing = _run(venv / "bin/pip", "list", "--format=freeze", cwd=tmp_path)
    names = {line.partition("==")[0].lower() for line in listing.stdout.split()}
    assert "escrow-custodian" in names
    assert not names & SERVER_STACK
    assert names <= {"escrow-custodian", "cryptography", "cffi", "pycparser", "pynacl",
                     "zxcvbn", "pip", "setuptools"}

    version = _run(venv / "bin/escrow-custodian", "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout == "escrow-custodian {}\n".format(
        _project(REPOSITORY / PACKAGE / "pyproject.toml")["version"])
    usage = _run(venv / "bin/escrow-custodian", "--help", cwd=tmp_path)
    assert usage.returncode == 0, usage.stderr
    for command in ("release", "show", "verify-share", "change-passphrase"):
        assert command in usage.stdout

    # Only the custodian's layers were installed; the server's code was not.
    probe = _run(venv / "bin/python", "-c",
                 "import escrow.crypto.sharefile, escrow.custodian.challenge\n"
                 "import importlib.util as u\n"
                 "print(u.find_spec('escrow.vault'), u.find_spec('escrow.log'))", cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout == "None None\n"
