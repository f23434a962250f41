"""The custodian tool's config file: the keys it trusts, and where it remembers checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from escrow.custodian import cli
from escrow.custodian.config import STATE_FILE_NAME, config_load
from escrow.custodian.errors import CustodianToolError


def test_config_names_the_keys_and_the_state_file_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"log_key": "log+1+AQ", "witnesses": ["w+2+BA"],
                                "witness_quorum": 1}))
    config = config_load(path, required=True)
    assert (config.log_key, config.witnesses, config.witness_quorum) == (
        "log+1+AQ", ("w+2+BA",), 1)
    assert config.state_path == tmp_path / STATE_FILE_NAME


def test_no_default_config_means_no_memory(tmp_path: Path) -> None:
    config = config_load(tmp_path / "absent.json", required=False)
    assert config.state_path is None
    assert config.witnesses == ()


@pytest.mark.parametrize(
    ("document", "message"),
    [({"log_key": "k", "witness": []}, "unknown settings"),
     ({"witnesses": "w+2+BA"}, "list of verifier keys"),
     ({"witness_quorum": 0}, "positive whole number"),
     ({"log_key": 7}, "must be text")],
)
def test_a_malformed_config_is_refused(tmp_path: Path, document: dict, message: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document))
    with pytest.raises(CustodianToolError, match=message):
        config_load(path, required=True)


def test_an_explicit_config_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CustodianToolError, match="no config file"):
        config_load(tmp_path / "absent.json", required=True)


def test_a_witness_quorum_below_one_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as usage:
        cli.main(["show", "1", "--log-key", "k", "--witness-quorum", "0"])
    assert usage.value.code == 2
