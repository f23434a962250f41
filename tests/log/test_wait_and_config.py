"""log_wait_for_checkpoint, the log's settings, system checks and the demo key."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from escrow.crypto import merkle
from escrow.crypto.checkpoint import checkpoint_open
from escrow.crypto.note import signer_parse
from escrow.log import services
from escrow.log.checks import check_log_keys
from escrow.log.events import Actor, event_record
from escrow.log.keys import log_identity
from escrow.log.services import LogInclusion, LogUnavailable, log_wait_for_checkpoint

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_wait_returns_a_signed_checkpoint_and_a_proof_that_verifies() -> None:
    for n in range(40):
        event_record(event_type="test.before", actor=Actor.system(), details={"n": n})
    approval = event_record(event_type="test.approval", actor=Actor.system())
    inclusion = log_wait_for_checkpoint(event_id=approval.pk, timeout=5)
    assert isinstance(inclusion, LogInclusion)
    assert inclusion.log_index == 40 and inclusion.tree_size == 41  # noqa: PT018
    identity = log_identity()
    checkpoint = checkpoint_open(message=inclusion.checkpoint_text.encode(),
                                 verifier=identity.verifier, origin=identity.origin)
    assert (checkpoint.size, checkpoint.root_hash) == (inclusion.tree_size, inclusion.root_hash)
    merkle.inclusion_verify(
        index=inclusion.log_index, size=inclusion.tree_size,
        leaf_hash=merkle.leaf_hash(bytes(approval.entry)),
        proof=inclusion.inclusion_proof, root=inclusion.root_hash,
    )


@pytest.mark.django_db
def test_wait_for_an_unknown_event_fails_closed() -> None:
    with pytest.raises(LogUnavailable):
        log_wait_for_checkpoint(event_id=10**12, timeout=0.2)


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "sqlite", reason="the process lock is SQLite's")
def test_wait_fails_closed_while_the_sequencer_is_busy_elsewhere() -> None:
    event = event_record(event_type="test.wait", actor=Actor.system())
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with services._process_lock:
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        with pytest.raises(LogUnavailable):
            log_wait_for_checkpoint(event_id=event.pk, timeout=0.3)
    finally:
        release.set()
        holder.join()
    assert log_wait_for_checkpoint(event_id=event.pk, timeout=2).log_index == 0


@pytest.mark.django_db
def test_wait_fails_closed_when_the_key_is_unusable() -> None:
    event = event_record(event_type="test.wait", actor=Actor.system())
    with override_settings(ESCROW_LOG_SIGNING_KEY="PRIVATE+KEY+broken"), \
            pytest.raises(LogUnavailable):
        log_wait_for_checkpoint(event_id=event.pk, timeout=0.2)


def test_the_system_check_names_a_missing_or_bad_key() -> None:
    with override_settings(DEBUG=True):
        assert check_log_keys(None) == []
    with override_settings(ESCROW_LOG_SIGNING_KEY=""):
        assert [e.id for e in check_log_keys(None)] == ["escrow.E102"]
    with override_settings(ESCROW_LOG_SIGNING_KEY="PRIVATE+KEY+nonsense+00000000+AAAA"):
        assert [e.id for e in check_log_keys(None)] == ["escrow.E103"]
    with override_settings(DEBUG=False):
        assert "escrow.E104" in [e.id for e in check_log_keys(None)]


def _settings_in_subprocess(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("ESCROW_", "DATABASE_URL", "SECRET_KEY", "REDIS_URL"))}
    return subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        env={**clean, **env}, cwd=ROOT, capture_output=True, text=True, check=False,
    )


def test_production_refuses_to_start_without_the_log_key() -> None:
    base = {
        "ESCROW_ENV": "production", "SECRET_KEY": "x" * 50, "ESCROW_SERVICE_SECRET": "y" * 50,
        "ESCROW_TOTP_SEED_KEY": "z" * 50,
        "REDIS_URL": "redis://127.0.0.1:6379/15", "ESCROW_LOG_ORIGIN": "escrow.example.org/log",
    }
    result = _settings_in_subprocess(base)
    assert result.returncode != 0
    assert "ESCROW_LOG_SIGNING_KEY must be set" in result.stderr
    del base["ESCROW_LOG_ORIGIN"]
    result = _settings_in_subprocess({**base, "ESCROW_LOG_SIGNING_KEY": "PRIVATE+KEY+a+b+c"})
    assert "ESCROW_LOG_ORIGIN must be set" in result.stderr


def test_demo_env_generates_a_fresh_log_key(tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("demo_env", "--dir", str(tmp_path), stdout=out)
    values = dict(line.split("=", 1) for line in out.getvalue().splitlines() if "=" in line)
    signer = signer_parse(values["ESCROW_LOG_SIGNING_KEY"])
    assert signer.name == values["ESCROW_LOG_ORIGIN"]
    assert "dev-insecure" not in values["ESCROW_LOG_SIGNING_KEY"]
