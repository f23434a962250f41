"""The reference witness in a loop (as the demo runs it): one line when something changes,
not one a round."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from escrow.crypto.cosignature import cosigner_key_generate
from escrow.crypto.note import signer_key_generate
from escrow.custodian import witness
from escrow.custodian.errors import CustodianToolError


def test_the_loop_reports_each_new_size_and_each_new_failure_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "wendy.key"
    key_file.write_text(cosigner_key_generate(name="witness.example/wendy")[0] + "\n")
    refused = CustodianToolError("cannot reach http://127.0.0.1:8000: refused")
    rounds: Iterator[int | Exception] = iter([refused, refused, 3, 3, 3, 5, refused, 5])

    def witness_round(service: Any, **kwargs: Any) -> int:
        outcome = next(rounds)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def sleep(seconds: float) -> None:
        if not rounds.__length_hint__():
            raise KeyboardInterrupt

    monkeypatch.setattr(witness, "witness_round", witness_round)
    monkeypatch.setattr(witness.time, "sleep", sleep)
    done = witness.main(["cosign", "--server", "http://127.0.0.1:8000",
                         "--log-key", signer_key_generate(name="escrow.example/log")[1],
                         "--key-file", str(key_file), "--state", str(tmp_path / "state"),
                         "--every", "2"])
    assert done == witness.EXIT_OK
    out, err = capsys.readouterr()
    # After a failure, the next cosignature is reported again: the witness is back.
    assert out.splitlines() == ["cosigned the checkpoint of size 3",
                                "cosigned the checkpoint of size 5",
                                "cosigned the checkpoint of size 5"]
    assert err.count("cannot reach") == 2  # once while the service starts, once later


def test_a_checkpoint_already_cosigned_is_not_sent_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from escrow.crypto.note import signer_parse
    from tests.custodian.test_witnesses import ORIGIN, Log, entries, signed

    log_signer = signer_parse(signer_key_generate(name=ORIGIN)[0])
    log = Log(entries(9))
    served = [signed(log.checkpoint(5), log_signer)]
    sent: list[bytes] = []
    monkeypatch.setattr(witness, "checkpoint_fetch", lambda service: served[-1])
    monkeypatch.setattr(witness, "tiles_reader", lambda service: log.read_tiles)
    monkeypatch.setattr(witness, "cosignature_submit",
                        lambda service, *, cosigned_checkpoint: sent.append(cosigned_checkpoint))

    def round_() -> int:
        return witness.witness_round(
            Any, verifier=log_signer.verifier, origin=ORIGIN, name="witness.example/wendy",
            private_key=Ed25519PrivateKey.generate(), state_path=tmp_path / "state", now=1)

    assert [round_(), round_()] == [5, 5]
    assert len(sent) == 1
    served.append(signed(log.checkpoint(9), log_signer))  # the log grew
    assert round_() == 9
    assert len(sent) == 2
