"""The README's quick start, run as written against a started demo, so the two cannot drift.

Every fenced shell block preceded by `<!-- quickstart: run -->` in README.md is run
verbatim with bash (`-e -o pipefail`), in order, at the top of a copy of the checkout
whose `make demo` serves on a free loopback port; only `PORT` differs, through the
environment, as a reader who ran `PORT=... make demo` would have it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUNNABLE = re.compile(r"<!-- quickstart: run -->\s*```sh\n(.*?)```", re.DOTALL)
# What a checkout has that is not the project: never copied.
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", ".demo", "node_modules", ".mutation",
                                    "staticfiles", "__pycache__", "*.sqlite3*", ".*_cache",
                                    ".hypothesis")
START_SECONDS = 180

pytestmark = pytest.mark.slow


def runnable_blocks() -> list[str]:
    return RUNNABLE.findall((REPO / "README.md").read_text())


def free_port_pair() -> int:
    """A loopback port whose successor is free too (the demo's webhook receiver)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        with socket.socket() as probe, contextlib.suppress(OSError):
            probe.bind(("127.0.0.1", port + 1))
            return port
    pytest.fail("no two adjacent free loopback ports")


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project sharing this checkout's virtualenv."""
    root = tmp_path_factory.mktemp("quickstart") / "checkout"
    shutil.copytree(REPO, root, ignore=NOT_COPIED, symlinks=True)
    (root / ".venv").symlink_to(REPO / ".venv")
    # Older than the shared virtualenv's stamp, so `make` never reinstalls into it.
    for name in ("pyproject.toml", "requirements-dev.lock"):
        os.utime(root / name, (0, 0))
    return root


def environment(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "MAKEFLAGS",
                        "ESCROW_PUBLIC_URL", "DEMO_DIR"}}
    return {**env, "PORT": str(port), "PYTHONUNBUFFERED": "1"}


@contextlib.contextmanager
def demo_running(checkout: Path, port: int) -> Iterator[list[str]]:
    output: list[str] = []
    log = checkout.parent / f"demo-{port}.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            ["make", "demo"], cwd=checkout, env=environment(port),  # noqa: S607
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("make demo did not serve:\n" + log.read_text()[-4000:])
            time.sleep(0.5)
        yield output
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        output.append(log.read_text())


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/live",
                                    timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def credentials_base_url(checkout: Path) -> str:
    import json

    return str(json.loads((checkout / ".demo/credentials.json").read_text())["base_url"])


def test_the_readme_marks_its_quick_start() -> None:
    blocks = runnable_blocks()
    assert len(blocks) >= 2, "README.md lost its <!-- quickstart: run --> blocks"
    assert any("/api/v1/enrolments" in block for block in blocks)
    assert any("make manage ARGS=audit_verify" in block for block in blocks)


def test_the_quick_start_runs_as_written_on_any_port(checkout: Path) -> None:
    first = free_port_pair()
    with demo_running(checkout, first) as first_output:
        assert credentials_base_url(checkout) == f"http://127.0.0.1:{first}"
    demo_text = "".join(first_output)
    assert f"http://127.0.0.1:{first}/api/v1/" in demo_text
    assert "No hostname was supplied" not in demo_text, "kombu's warning is back"

    # Started again on another port, the existing .demo/ follows it.
    port = free_port_pair()
    with demo_running(checkout, port) as output:
        assert credentials_base_url(checkout) == f"http://127.0.0.1:{port}"
        for number, block in enumerate(runnable_blocks(), 1):
            ran = subprocess.run(  # noqa: S603 - README commands, run as a reader would
                ["bash", "-e", "-o", "pipefail", "-c", block],  # noqa: S607
                cwd=checkout, env=environment(port), capture_output=True, text=True,
                timeout=180, check=False,
            )
            assert ran.returncode == 0, (
                f"README quick-start block {number} failed ({ran.returncode}):\n{block}\n"
                f"--- stdout\n{ran.stdout}\n--- stderr\n{ran.stderr}"
            )
            if "/api/v1/enrolments" in block:
                assert re.search(r"^PSN-\S+$", ran.stdout, re.MULTILINE), ran.stdout
            if "audit_verify" in block:
                assert "audit log OK" in ran.stdout, ran.stdout
    text = "".join(output)
    assert f"http://127.0.0.1:{port}/api/v1/" in text
    # Each sequencer batch is reported once, by the log line, not again on stdout.
    assert "log: +" not in text
    # Operator commands used the demo's database, not a stray one at the top.
    assert not list(checkout.glob("db.sqlite3*"))


def test_links_the_service_gives_out_follow_port() -> None:
    """Package download links (ESCROW_PUBLIC_URL) use the demo's port, as the README says."""
    read = subprocess.run(  # noqa: S603 - the project's own settings
        [str(REPO / ".venv/bin/python"), "-c",
         "from django.conf import settings; print(settings.ESCROW_PUBLIC_URL)"],
        cwd=REPO, env={**environment(8123), "DJANGO_SETTINGS_MODULE": "config.settings",
                       "ESCROW_ENV": "development"},
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert read.stdout.strip() == "http://127.0.0.1:8123"
