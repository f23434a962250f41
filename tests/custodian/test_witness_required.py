"""Witnesses required: the tool refuses to trust a checkpoint on the log key alone unless
the custodian says, with --no-witness, that they mean to (a test or a single-party
deployment). These stop before any network traffic, so no server is needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from escrow.crypto.cosignature import cosigner_key_generate
from escrow.crypto.note import signer_key_generate
from escrow.custodian import cli
from escrow.custodian.errors import CustodianToolError

ORIGIN = "escrow.example/log"
LOG_KEY = signer_key_generate(name=ORIGIN)[1]
WENDY_KEY = cosigner_key_generate(name="witness.example/wendy")[1]


class Fetched(Exception):
    """The tool went on to download the challenge."""


@pytest.fixture(autouse=True)
def offline_tool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """frank's tool with a token, no default config file, and a service that is never
    reached: a download is recorded and stops the command."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ESCROW_CUSTODIAN_TOKEN", "est_frank")
    monkeypatch.delenv("ESCROW_CUSTODIAN_CONFIG", raising=False)
    fetched: list[str] = []

    def challenge_fetch(service: Any, *, request_id: str, epoch: int | None = None) -> Any:
        fetched.append(request_id)
        raise CustodianToolError("the challenge was downloaded")

    monkeypatch.setattr(cli, "challenge_fetch", challenge_fetch)
    return fetched


def test_a_checkpoint_on_the_log_key_alone_is_refused_by_default(
    offline_tool: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["show", "7", "--log-key", LOG_KEY]) == cli.EXIT_FAILED
    error = capsys.readouterr().err
    assert "no witness keys are configured" in error
    # The message says how to configure witnesses, and names the opt-out.
    assert '"witnesses"' in error
    assert "--witness KEY" in error
    assert "--no-witness" in error
    assert offline_tool == []


def test_release_is_refused_too_before_the_share_is_touched(
    offline_tool: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    done = cli.main(["release", "7", "--share", str(tmp_path / "absent.share.json"),
                     "--log-key", LOG_KEY, "--yes"])
    assert done == cli.EXIT_FAILED
    assert "no witness keys are configured" in capsys.readouterr().err
    assert offline_tool == []


def test_no_witness_opts_out_and_warns(
    offline_tool: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["show", "7", "--log-key", LOG_KEY, "--no-witness"]) == cli.EXIT_FAILED
    error = capsys.readouterr().err
    assert "Warning: --no-witness" in error
    assert "log key alone" in error
    assert "the challenge was downloaded" in error
    assert offline_tool == ["7"]


def test_a_configured_witness_needs_no_opt_out(
    offline_tool: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["show", "7", "--log-key", LOG_KEY, "--witness", WENDY_KEY]) == 1
    error = capsys.readouterr().err
    assert "Warning" not in error
    assert offline_tool == ["7"]


def test_no_witness_beside_witness_keys_on_the_command_line_is_refused(
    offline_tool: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    done = cli.main(["show", "7", "--log-key", LOG_KEY, "--witness", WENDY_KEY,
                     "--no-witness"])
    assert done == cli.EXIT_FAILED
    assert "--no-witness contradicts" in capsys.readouterr().err
    assert offline_tool == []


def test_no_witness_beside_witness_keys_in_the_config_file_is_refused(
    offline_tool: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"log_key": LOG_KEY, "witnesses": [WENDY_KEY],
                                  "witness_quorum": 1}))
    done = cli.main(["--config", str(config), "show", "7", "--no-witness"])
    assert done == cli.EXIT_FAILED
    assert "--no-witness contradicts" in capsys.readouterr().err
    assert offline_tool == []


def test_a_config_file_without_witnesses_is_refused(
    offline_tool: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"log_key": LOG_KEY}))
    assert cli.main(["--config", str(config), "show", "7"]) == cli.EXIT_FAILED
    assert "no witness keys are configured" in capsys.readouterr().err
    assert offline_tool == []


def test_the_refusal_comes_before_any_sign_in(
    offline_tool: list[str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No password or one-time code is asked for (nor a code spent) on a run that must stop.
    monkeypatch.delenv("ESCROW_CUSTODIAN_TOKEN")
    signed_in: list[str | None] = []
    monkeypatch.setattr(cli, "_sign_in",
                        lambda service, username: signed_in.append(username) or "est_x")
    assert cli.main(["--username", "frank", "show", "7", "--log-key", LOG_KEY]) == 1
    assert "no witness keys are configured" in capsys.readouterr().err
    assert signed_in == []
