"""An off-the-shelf tlog client verifies the log: Go's golang.org/x/mod/sumdb packages.

The program under tests/log/goclient/ is built here, from the Go module proxy; where
the proxy cannot be reached, from the Debian-packaged source of the same module
(golang-golang-x-mod-dev) if installed. With neither, the test is skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from escrow.log.events import Actor, event_record
from escrow.log.keys import log_identity
from escrow.log.services import log_sequence
from tests.log.conftest import events_bulk_create

GOCLIENT = Path(__file__).parent / "goclient"
DEBIAN_GOPATH = Path("/usr/share/gocode")

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _go(args: list[str], cwd: Path, env: dict[str, str], timeout: int) -> bool:
    go = shutil.which("go")
    assert go is not None
    try:
        done = subprocess.run(  # noqa: S603
            [go, *args], cwd=cwd, env={**os.environ, **env}, capture_output=True,
            timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


@pytest.fixture(scope="module")
def goclient(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("go") is None:
        pytest.skip("Go is not installed: the Go tlog client check needs it")
    work = tmp_path_factory.mktemp("goclient")
    binary = work / "goclient"
    cache = {"GOCACHE": str(work / "cache"), "GOFLAGS": "-mod=mod"}
    module = work / "module"
    shutil.copytree(GOCLIENT, module)
    via_proxy = {**cache, "GOPATH": str(work / "gopath"), "GO111MODULE": "on"}
    if _go(["build", "-o", str(binary), "."], module, via_proxy, timeout=180):
        return binary
    if (DEBIAN_GOPATH / "src/golang.org/x/mod/sumdb/tlog").is_dir():
        legacy = work / "gopath"
        source = legacy / "src" / "goclient"
        source.mkdir(parents=True, exist_ok=True)
        shutil.copy(GOCLIENT / "main.go", source / "main.go")
        offline = {"GOCACHE": str(work / "cache"), "GO111MODULE": "off", "GOFLAGS": "",
                   "GOPATH": f"{legacy}:{DEBIAN_GOPATH}"}
        if _go(["build", "-o", str(binary), "goclient"], source, offline, timeout=180):
            return binary
    pytest.skip("the Go module proxy is not reachable (and no packaged golang.org/x/mod)")


def _verify(goclient: Path, base: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [str(goclient), base, log_identity().verifier_key, *extra],
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_go_tlog_client_verifies_checkpoint_tiles_entries_and_consistency(
    goclient: Path, live_server: Any, tmp_path: Path
) -> None:
    base = f"{live_server.url}/log/"
    events_bulk_create(300)
    log_sequence()
    old_checkpoint = tmp_path / "old-checkpoint"
    old_checkpoint.write_bytes(Client().get("/log/checkpoint").content)
    events_bulk_create(65_536 - 300 + 1, start=300)
    event_record(event_type="test.last", actor=Actor.system())
    log_sequence()
    result = _verify(goclient, base, str(old_checkpoint))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK ")
    assert "size 65538" in result.stdout


def test_go_tlog_client_rejects_a_log_signed_by_another_key(
    goclient: Path, live_server: Any
) -> None:
    events_bulk_create(10)
    log_sequence()
    from escrow.crypto.note import signer_key_generate

    stranger = signer_key_generate(name=log_identity().origin)[1]
    result = subprocess.run(  # noqa: S603
        [str(goclient), f"{live_server.url}/log/", stranger],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert "FAIL" in result.stderr
