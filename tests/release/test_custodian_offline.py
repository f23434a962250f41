"""The custodian tool runs on an offline machine where Django and Celery are not installed.

Each test starts a fresh interpreter whose first act is to make the server's stack
unimportable, then imports or runs the tool. import-linter checks the imports written
in the source; this checks what actually happens when the tool starts.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from escrow.custodian import cli

REPOSITORY = Path(__file__).resolve().parents[2]

# What a custodian's machine does not have; installed before anything of ours is imported.
WITHOUT_THE_SERVER_STACK = textwrap.dedent(
    """
    import importlib, importlib.abc, pkgutil, runpy, sys

    SERVER_STACK = {"django", "celery", "rest_framework", "kombu", "redis", "psycopg"}

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in SERVER_STACK:
                raise ImportError(f"No module named {name!r} (not on this machine)")
            return None

    def loaded_server_modules():
        return sorted(m for m in sys.modules if m.partition(".")[0] in SERVER_STACK)

    assert not loaded_server_modules(), loaded_server_modules()
    sys.meta_path.insert(0, NotInstalled())
    """
)


def run_offline(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and fixed code
        [sys.executable, "-c", WITHOUT_THE_SERVER_STACK + textwrap.dedent(code), *args],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=60, check=False,
    )


def run_tool_offline(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m <module> <args>`, with the server stack blocked."""
    return run_offline(
        f"""
        sys.argv = ["escrow-custodian", *sys.argv[1:]]
        try:
            runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
        finally:
            assert not loaded_server_modules(), loaded_server_modules()
        """,
        *args,
    )


def test_the_blocking_is_real() -> None:
    done = run_offline(
        """
        for name in sorted(SERVER_STACK):
            try:
                importlib.import_module(name)
            except ImportError:
                print("blocked", name)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:-1] == [
        "blocked celery", "blocked django", "blocked kombu", "blocked psycopg",
        "blocked redis", "blocked rest_framework",
    ]


def test_every_module_of_the_tool_imports_offline() -> None:
    done = run_offline(
        """
        import escrow.custodian

        for found in pkgutil.walk_packages(escrow.custodian.__path__, "escrow.custodian."):
            importlib.import_module(found.name)
            print(found.name)
        assert not loaded_server_modules(), loaded_server_modules()
        """
    )
    assert done.returncode == 0, done.stderr
    imported = set(done.stdout.split())
    assert {"escrow.custodian.cli", "escrow.custodian.challenge",
            "escrow.custodian.service", "escrow.custodian.__main__"} <= imported


@pytest.mark.parametrize("module", ["escrow.custodian", "escrow.custodian.cli"])
def test_help_runs_offline(module: str) -> None:
    done = run_tool_offline(module, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: escrow-custodian")
    for command in ("release", "show", "refuse", "login", "verify-share", "--version"):
        assert command in done.stdout


@pytest.mark.parametrize("module", ["escrow.custodian", "escrow.custodian.cli"])
def test_version_runs_offline(module: str) -> None:
    done = run_tool_offline(module, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"escrow-custodian {importlib.metadata.version('identity-escrow')}\n"


def test_version_from_a_source_tree_that_was_never_installed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == "escrow-custodian unknown (not installed)\n"
