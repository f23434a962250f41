"""Witnesses required, end to end: the custodian tool and the reference witness against a
live server, as separate processes, with the log's witness configured on the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from escrow.crypto.checkpoint import Checkpoint, checkpoint_sign
from escrow.crypto.cosignature import cosigner_key_generate
from escrow.log.keys import log_identity
from escrow.log.models import LogCosignature
from escrow.log.selectors import log_checkpoint_latest
from escrow.log.services import log_sequence
from legal_requests.models import CustodianResponse
from tests.release.conftest import RELEASE_TEST_APPS, World, approved_request, enrol, world_build
from tests.release.test_custodian_cli import run_cli

pytestmark = pytest.mark.django_db(transaction=True, available_apps=RELEASE_TEST_APPS)


@pytest.fixture
def witness_key(tmp_path: Path, settings: Any) -> str:
    """Wendy's witness key, written for her witness and accepted by the log."""
    skey, vkey = cosigner_key_generate(name="witness.example/wendy")
    (tmp_path / "wendy.key").write_text(skey + "\n")
    settings.ESCROW_LOG_WITNESS_KEYS = [vkey]
    return vkey


@pytest.fixture
def cli_world(live_server: Any, eager_tasks: Any, patient_log: None) -> World:
    return world_build(share_files=True)


def custodian_config(tmp_path: Path, witness_key: str) -> Path:
    directory = tmp_path / "frank"
    directory.mkdir()
    config = directory / "config.json"
    config.write_text(json.dumps({"log_key": log_identity().verifier_key,
                                  "witnesses": [witness_key], "witness_quorum": 1}))
    return config


def run_witness(tmp_path: Path, server: str) -> subprocess.CompletedProcess[str]:
    log_sequence()  # what the sequencer does within seconds: a checkpoint over the events
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCROW_")}
    return subprocess.run(  # noqa: S603 - our own witness, fixed arguments
        [sys.executable, "-m", "escrow.custodian.witness", "cosign", "--server", server,
         "--log-key", log_identity().verifier_key, "--key-file", str(tmp_path / "wendy.key"),
         "--state", str(tmp_path / "wendy.state")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )


def show(world: World, request_id: str, config: Path, server: str
         ) -> subprocess.CompletedProcess[str]:
    return run_cli("--config", str(config), "show", request_id, server=server,
                   token=world.staff_token(world.custodians["frank"]))


def forged_checkpoint() -> bytes:
    """What an operator holding the log key could sign: the latest size, another root."""
    log_sequence()
    latest = log_checkpoint_latest()
    assert latest is not None
    identity = log_identity()
    fork = Checkpoint(origin=identity.origin, size=latest.tree_size, root_hash=b"\x07" * 32)
    return checkpoint_sign(checkpoint=fork, signer=identity.signer)


def test_checkpoint_without_witness_quorum_is_refused_until_the_witness_cosigns(
    cli_world: World, live_server: Any, tmp_path: Path, witness_key: str
) -> None:
    world = cli_world
    request = approved_request(world, [enrol(world)])
    config = custodian_config(tmp_path, witness_key)
    state = config.parent / "checkpoint-state"

    refused = show(world, str(request.pk), config, live_server.url)
    assert refused.returncode == 1
    assert "cosigned by 0 of your 1 witnesses" in refused.stderr
    assert not state.exists()  # nothing remembered from a refused checkpoint

    witnessed = run_witness(tmp_path, live_server.url)
    assert witnessed.returncode == 0, witnessed.stderr
    assert LogCosignature.objects.filter(witness_name="witness.example/wendy").count() == 1
    shown = show(world, str(request.pk), config, live_server.url)
    assert shown.returncode == 0, shown.stderr
    assert "Pseudonyms:        1" in shown.stdout
    assert "cosigned by 1 of your witnesses: witness.example/wendy." in shown.stdout
    assert b"witness.example/wendy" in state.read_bytes()
    assert not CustodianResponse.objects.exists()


def test_the_challenge_is_proved_under_a_witnessed_checkpoint_while_the_log_grows(
    cli_world: World, live_server: Any, tmp_path: Path, witness_key: str
) -> None:
    world = cli_world
    request = approved_request(world, [enrol(world)])
    assert run_witness(tmp_path, live_server.url).returncode == 0
    enrol(world, 1)
    log_sequence()  # a newer checkpoint no witness has seen yet
    latest = log_checkpoint_latest()
    assert latest is not None
    assert not latest.cosignatures.exists()

    shown = show(world, str(request.pk), custodian_config(tmp_path, witness_key),
                 live_server.url)
    assert shown.returncode == 0, shown.stderr


def test_the_tool_refuses_a_log_inconsistent_with_the_checkpoint_it_saw(
    cli_world: World, live_server: Any, tmp_path: Path, witness_key: str
) -> None:
    world = cli_world
    request = approved_request(world, [enrol(world)])
    assert run_witness(tmp_path, live_server.url).returncode == 0
    config = custodian_config(tmp_path, witness_key)
    state = config.parent / "checkpoint-state"
    # Earlier, the tool was shown (and remembered) a fork of the same size.
    fork = forged_checkpoint()
    state.write_bytes(fork)

    refused = show(world, str(request.pk), config, live_server.url)
    assert refused.returncode == 1
    assert "NOT consistent" in refused.stderr
    assert state.read_bytes() == fork


def test_the_witness_refuses_to_cosign_a_fork_and_keeps_its_state(
    cli_world: World, live_server: Any, tmp_path: Path, witness_key: str
) -> None:
    approved_request(cli_world, [enrol(cli_world)])
    state = tmp_path / "wendy.state"
    fork = forged_checkpoint()
    state.write_bytes(fork)

    refused = run_witness(tmp_path, live_server.url)
    assert refused.returncode == 2, refused.stderr
    assert "NOT consistent" in refused.stderr
    assert not LogCosignature.objects.exists()
    assert state.read_bytes() == fork


def test_the_witness_state_advances_only_after_a_cosignature(
    cli_world: World, live_server: Any, tmp_path: Path, witness_key: str
) -> None:
    enrol(cli_world)
    first = run_witness(tmp_path, live_server.url)
    assert first.returncode == 0, first.stderr
    size = log_checkpoint_latest().tree_size  # type: ignore[union-attr]
    assert f"cosigned the checkpoint of size {size}" in first.stdout
    approved_request(cli_world, [enrol(cli_world, 1)])  # the log grows
    second = run_witness(tmp_path, live_server.url)
    assert second.returncode == 0, second.stderr
    assert log_checkpoint_latest().tree_size > size  # type: ignore[union-attr]
    assert LogCosignature.objects.count() == 2


def test_the_tool_refuses_the_log_key_alone_unless_told_no_witness(
    cli_world: World, live_server: Any
) -> None:
    world = cli_world
    request = approved_request(world, [enrol(world)])
    token = world.staff_token(world.custodians["frank"])
    log_key = ["--log-key", log_identity().verifier_key]

    refused = run_cli("show", str(request.pk), *log_key, server=live_server.url, token=token)
    assert refused.returncode == 1
    assert "no witness keys are configured" in refused.stderr
    assert "--no-witness" in refused.stderr
    assert refused.stdout == ""

    # For a test or a single-party deployment: the log key alone, said out loud.
    opted_out = run_cli("show", str(request.pk), *log_key, "--no-witness",
                        server=live_server.url, token=token)
    assert opted_out.returncode == 0, opted_out.stderr
    assert "Warning: --no-witness" in opted_out.stderr
    assert "Pseudonyms:        1" in opted_out.stdout
    assert "rests on the log key alone" in opted_out.stdout
    assert not CustodianResponse.objects.exists()
