"""`escrow-custodian change-passphrase`: re-sealing a share file checks the new passphrase."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest

from escrow.crypto.sharefile import Argon2Params, share_file_open, share_file_seal
from escrow.crypto.threshold import ceremony_run
from escrow.custodian import cli

CHEAP = Argon2Params(memory_kib=8, iterations=1, lanes=1)
OLD = "correct horse battery staple"
NEW = "tangerine orbit fjord 47 cobalt"


@pytest.fixture
def share_file(tmp_path: Path) -> Path:
    public_key, shares = ceremony_run(threshold=2, custodians=3, epoch=1)
    path = tmp_path / "grace.share.json"
    path.write_bytes(share_file_seal(share=shares[1], public_key=public_key,
                                     custodian_label="grace", passphrase=OLD, kdf_params=CHEAP))
    (tmp_path / "old").write_text(OLD + "\n")
    return path


def change(share_file: Path, monkeypatch: pytest.MonkeyPatch, *answers: str,
           extra: tuple[str, ...] = ()) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(a + "\n" for a in answers)))
    return cli.main(["change-passphrase", str(share_file),
                     "--passphrase-file", str(share_file.parent / "old"), *extra])


def test_change_passphrase_reseals_under_the_new_one(
    share_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = share_file_open(data=share_file.read_bytes(), passphrase=OLD)
    assert change(share_file, monkeypatch, NEW, NEW) == cli.EXIT_OK
    assert share_file_open(data=share_file.read_bytes(), passphrase=NEW) == before
    assert json.loads(share_file.read_bytes())["custodian_label"] == "grace"
    assert stat.S_IMODE(share_file.stat().st_mode) == 0o600


@pytest.mark.parametrize("weak", ["password1", "gracegrace2026", "escrowcustodian"])
def test_change_passphrase_refuses_a_weak_one_and_keeps_the_file(
    share_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    weak: str,
) -> None:
    before = share_file.read_bytes()
    assert change(share_file, monkeypatch, weak, weak) == cli.EXIT_FAILED
    error = capsys.readouterr().err
    assert "too easy to guess" in error
    assert weak not in error
    assert share_file.read_bytes() == before


def test_change_passphrase_refuses_two_different_entries(
    share_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = share_file.read_bytes()
    assert change(share_file, monkeypatch, NEW, NEW + "!") == cli.EXIT_FAILED
    assert "differ" in capsys.readouterr().err
    assert share_file.read_bytes() == before


def test_change_passphrase_to_another_file_leaves_the_original(
    share_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = share_file.parent / "grace.new.json"
    assert change(share_file, monkeypatch, NEW, NEW, extra=("--output", str(output))) == 0
    assert share_file_open(data=share_file.read_bytes(), passphrase=OLD)
    assert share_file_open(data=output.read_bytes(), passphrase=NEW)
