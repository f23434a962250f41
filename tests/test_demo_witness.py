"""The demo runs a witness: its key made once and kept owner-only, the service told to
accept its cosignatures, and a config file that points a custodian's tool at it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from escrow.crypto.cosignature import cosigner_key_parse, cosigner_verifier_parse
from escrow.custodian.config import config_load
from escrow.log.keys import log_identity


def demo_env(*args: str) -> dict[str, str]:
    out = io.StringIO()
    call_command("demo_env", *args, stdout=out)
    return dict(line.split("=", 1) for line in out.getvalue().splitlines() if "=" in line)


def test_demo_env_makes_a_witness_key_once_and_names_it_to_the_service(tmp_path: Path) -> None:
    values = demo_env("--dir", str(tmp_path))
    key_file = tmp_path / "witness.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    name, private_key = cosigner_key_parse(key_file.read_text().strip())
    accepted = cosigner_verifier_parse(values["ESCROW_LOG_WITNESS_KEYS"])
    assert (accepted.name, accepted.public_key) == (
        name, private_key.public_key().public_bytes_raw())
    # Made again (an env file lost, or one from before the demo ran a witness): the key
    # on file is kept, never replaced.
    before = key_file.read_bytes()
    assert demo_env("--dir", str(tmp_path), "--witness-only") == {
        "ESCROW_LOG_WITNESS_KEYS": values["ESCROW_LOG_WITNESS_KEYS"]}
    assert demo_env("--dir", str(tmp_path))["ESCROW_LOG_WITNESS_KEYS"] == accepted.vkey
    assert key_file.read_bytes() == before


@pytest.mark.django_db
def test_demo_setup_writes_the_custodians_config_with_the_witness(
    tmp_path: Path, settings: Any
) -> None:
    settings.ESCROW_LOG_WITNESS_KEYS = [demo_env("--dir", str(tmp_path))[
        "ESCROW_LOG_WITNESS_KEYS"]]
    call_command("demo_setup", "--out", str(tmp_path), stdout=io.StringIO())
    path = tmp_path / "custodian-config.json"
    config = config_load(path, required=True)
    identity = log_identity()
    assert config.log_key == identity.verifier_key
    assert config.log_origin == identity.origin
    assert config.witnesses == tuple(settings.ESCROW_LOG_WITNESS_KEYS)
    assert config.witness_quorum == 1
    # Public keys only: nothing in it is a secret.
    assert "PRIVATE" not in path.read_text()
    # Set up again, it still says the same.
    first = json.loads(path.read_text())
    call_command("demo_setup", "--out", str(tmp_path), stdout=io.StringIO())
    assert json.loads(path.read_text()) == first
