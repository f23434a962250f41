"""`escrow-custodian redistribute`: custodians 1, 3 and 5 of a 3-of-5 key hand it to a new
2-of-3 board (heidi, ivan, judy) through files, and releases work with the new board only.
"""

from __future__ import annotations

import base64
import io
import json
import stat
from pathlib import Path

import nacl.public
import pytest

from escrow.crypto.envelope import FieldContext, field_open, field_seal
from escrow.crypto.release import (
    NotEnoughPartials,
    partial_decrypt,
    partials_combine,
    release_context,
)
from escrow.crypto.sharefile import Argon2Params, share_file_open, share_file_seal
from escrow.crypto.threshold import CustodianShare, EscrowPublicKey, ceremony_run
from escrow.custodian import cli

CHEAP = Argon2Params(memory_kib=8, iterations=1, lanes=1)
OLD = "correct horse battery staple"
NEW = "tangerine orbit fjord 47 cobalt"
BOARD = ("heidi", "ivan", "judy")
CONTEXT = release_context(request_id="req_11", approval_log_index=77)
ADA = FieldContext(record_id="enr_ada", platform_id="plt_forum", field_name="legal_name", epoch=1)


def run(monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return cli.main(["redistribute", *argv])


@pytest.fixture
def handover(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> dict[str, object]:
    """The old key and shares, and the dealers' files for the new board in `mail/`."""
    public_key, shares = ceremony_run(threshold=3, custodians=5, epoch=1)
    (tmp_path / "old.pass").write_text(OLD + "\n")
    (tmp_path / "old-key.json").write_text(json.dumps(public_key.to_dict()))
    mail = tmp_path / "mail"
    mail.mkdir()
    transport_keys = []
    for name in BOARD:
        assert run(monkeypatch, "keygen", "--output", str(tmp_path / f"{name}.transport")) == 0
        transport_keys.append(capsys.readouterr().out.splitlines()[-1])
    keys = [arg for key in transport_keys for arg in ("--new-custodian", key)]
    for index in (1, 3, 5):
        share_path = tmp_path / f"old-{index}.share.json"
        share_path.write_bytes(
            share_file_seal(share=shares[index - 1], public_key=public_key,
                            custodian_label=f"old{index}", passphrase=OLD, kdf_params=CHEAP)
        )
        assert run(monkeypatch, "deal", "--share", str(share_path), "--passphrase-file",
                   str(tmp_path / "old.pass"), "--dealers", "1,3,5", "--new-threshold", "2",
                   *keys, "--output-dir", str(mail)) == 0
    capsys.readouterr()
    return {"public_key": public_key, "shares": shares, "mail": mail, "dir": tmp_path,
            "keys": keys}


def accept(monkeypatch: pytest.MonkeyPatch, handover: dict[str, object], index: int,
           passphrase: str = NEW, mail: Path | None = None) -> int:
    tmp_path = handover["dir"]
    assert isinstance(tmp_path, Path)
    name = BOARD[index - 1]
    return run(monkeypatch, "accept", str(mail or handover["mail"]), "--old-public-key",
               str(tmp_path / "old-key.json"), "--index", str(index), "--transport-key",
               str(tmp_path / f"{name}.transport"), "--label", name,
               "--output", str(tmp_path / f"{name}.share.json"),
               stdin=f"{passphrase}\n{passphrase}\n")


def new_share(handover: dict[str, object], name: str) -> tuple[CustodianShare, EscrowPublicKey]:
    tmp_path = handover["dir"]
    assert isinstance(tmp_path, Path)
    return share_file_open(data=(tmp_path / f"{name}.share.json").read_bytes(), passphrase=NEW)


def test_keygen_prints_a_public_key_and_keeps_the_private_one_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, "keygen", "--output", str(tmp_path / "t.key")) == 0
    private = base64.b64decode((tmp_path / "t.key").read_bytes().strip())
    public = bytes(nacl.public.PrivateKey(private).public_key)
    assert capsys.readouterr().out.splitlines()[-1] == base64.b64encode(public).decode()
    assert stat.S_IMODE((tmp_path / "t.key").stat().st_mode) == 0o600


def test_turnover_through_the_tool_keeps_releases_working_with_the_new_board(
    handover: dict[str, object], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for index in (1, 2, 3):
        assert accept(monkeypatch, handover, index) == 0
    fingerprints = {
        line for line in capsys.readouterr().out.splitlines() if "fingerprint" in line
    }
    assert len(fingerprints) == 1  # every new custodian computed the same key
    old_key = handover["public_key"]
    assert isinstance(old_key, EscrowPublicKey)
    (heidi, new_key), (judy, _) = new_share(handover, "heidi"), new_share(handover, "judy")
    assert new_key.public_point == old_key.public_point
    assert (new_key.threshold, new_key.custodians) == (2, 3)
    tmp_path = handover["dir"]
    assert isinstance(tmp_path, Path)
    assert not (tmp_path / "heidi.transport").exists()
    sealed = field_seal(public_key=old_key, context=ADA, plaintext=b"Ada Augusta King")
    point = [sealed.ephemeral_point]
    partials = [
        partial_decrypt(share=s, public_key=new_key, points=point, context=CONTEXT)
        for s in (heidi, judy)
    ]
    (shared,) = partials_combine(partials=partials, public_key=new_key, points=point,
                                 context=CONTEXT)
    assert field_open(sealed=sealed, context=ADA, shared_point=shared,
                      public_key=new_key) == b"Ada Augusta King"
    # An old share's partial does not combine with a new one.
    old_shares = handover["shares"]
    assert isinstance(old_shares, list)
    mixed = [partials[0], partial_decrypt(share=old_shares[1], public_key=old_key, points=point,
                                          context=CONTEXT)]
    with pytest.raises(NotEnoughPartials):
        partials_combine(partials=mixed, public_key=new_key, points=point, context=CONTEXT)


def test_a_weak_new_passphrase_is_refused_and_nothing_is_written(
    handover: dict[str, object], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert accept(monkeypatch, handover, 1, passphrase="password1") == cli.EXIT_FAILED
    assert "too easy to guess" in capsys.readouterr().err
    tmp_path = handover["dir"]
    assert isinstance(tmp_path, Path)
    assert not (tmp_path / "heidi.share.json").exists()
    assert (tmp_path / "heidi.transport").exists()


def test_a_dealing_swapped_for_another_is_refused_naming_the_dealer(
    handover: dict[str, object], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mail = handover["mail"]
    assert isinstance(mail, Path)
    # Dealer 3 deals again: the new dealing no longer matches the sub-shares already sent.
    tmp_path = handover["dir"]
    assert isinstance(tmp_path, Path)
    first = (mail / "dealing-3.bin").read_bytes()
    redo = tmp_path / "redo"
    redo.mkdir()
    keys = handover["keys"]
    assert isinstance(keys, list)
    assert run(monkeypatch, "deal", "--share", str(tmp_path / "old-3.share.json"),
               "--passphrase-file", str(tmp_path / "old.pass"), "--dealers", "1,3,5",
               "--new-threshold", "2", *keys, "--output-dir", str(redo)) == 0
    (mail / "dealing-3.bin").write_bytes((redo / "dealing-3.bin").read_bytes())
    assert first != (mail / "dealing-3.bin").read_bytes()
    assert accept(monkeypatch, handover, 2) == cli.EXIT_FAILED
    assert "custodian 3 rejected: sub-share" in capsys.readouterr().err
    assert not (tmp_path / "ivan.share.json").exists()


def test_a_sub_share_sealed_to_someone_else_does_not_open(
    handover: dict[str, object], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mail = handover["mail"]
    assert isinstance(mail, Path)
    (mail / "sub-share-5-to-1.sealed").write_bytes((mail / "sub-share-5-to-2.sealed").read_bytes())
    assert accept(monkeypatch, handover, 1) == cli.EXIT_FAILED
    assert "does not open with your transport key" in capsys.readouterr().err
