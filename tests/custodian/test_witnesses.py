"""Witnesses required: the custodian tool's checks on a checkpoint, without a server.

A compromised operator holds the log key and can sign anything; what it cannot do is
get independent witnesses to cosign a fork, or make a fork consistent with a checkpoint
the custodian's tool already remembers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from escrow.crypto.checkpoint import Checkpoint, checkpoint_sign
from escrow.crypto.cosignature import (
    Cosigner,
    cosigner_key_generate,
    cosigner_key_parse,
    cosigner_verifier_parse,
)
from escrow.crypto.merkle import leaf_hash, root_from_leaf_hashes
from escrow.crypto.note import NoteKeyError, Signer, note_open, note_sign, signer_parse
from escrow.crypto.note import signer_key_generate as log_key_generate
from escrow.crypto.tiles import TileRef, tiles_for_append
from escrow.custodian.errors import CustodianToolError
from escrow.custodian.logview import (
    LogForked,
    checkpoint_consistent,
    checkpoint_open_witnessed,
    state_advance,
    state_load,
)

ORIGIN = "escrow.example/log"


class Log:
    """An append-only tree with its tiles, as a log (honest or forked) would serve them."""

    def __init__(self, entries: Sequence[bytes]) -> None:
        self.hashes = [leaf_hash(e) for e in entries]
        written, _ = tiles_for_append(old_size=0, new_leaf_hashes=self.hashes,
                                      read_tiles=lambda tiles: [b"" for _ in tiles])
        self.tiles: dict[tuple[int, int], bytes] = {}
        for tile, data in written:
            if len(data) > len(self.tiles.get((tile.level, tile.index), b"")):
                self.tiles[(tile.level, tile.index)] = data

    def read_tiles(self, tiles: Sequence[TileRef]) -> list[bytes]:
        return [self.tiles.get((t.level, t.index), b"")[: t.width * 32] for t in tiles]

    def checkpoint(self, size: int) -> Checkpoint:
        return Checkpoint(origin=ORIGIN, size=size,
                          root_hash=root_from_leaf_hashes(self.hashes[:size]))


def entries(n: int, tag: bytes = b"") -> list[bytes]:
    return [b"entry %d%s" % (i, tag) for i in range(n)]


@pytest.fixture(scope="module")
def log_signer() -> Signer:
    return signer_parse(log_key_generate(name=ORIGIN)[0])


def witness(name: str) -> Cosigner:
    return Cosigner(name=name, private_key=Ed25519PrivateKey.generate(),
                    timestamp=int(time.time()))


WENDY, WALTER, MALLORY = (witness(f"witness.example/{n}") for n in ("wendy", "walter", "mallory"))


def signed(checkpoint: Checkpoint, signer: Signer, *cosigners: Cosigner) -> bytes:
    message = checkpoint_sign(checkpoint=checkpoint, signer=signer)
    note = note_open(message=message, verifiers=[signer.verifier])
    return note_sign(text=note.text, signers=list(cosigners), signatures=note.signatures)


def open_witnessed(message: bytes, signer: Signer, witnesses: Sequence[Cosigner],
                   quorum: int) -> Checkpoint:
    checkpoint, _ = checkpoint_open_witnessed(
        message=message, verifier=signer.verifier, origin=ORIGIN,
        witnesses=[w.verifier for w in witnesses], quorum=quorum,
    )
    return checkpoint


# --- the quorum ----------------------------------------------------------------------------


def test_checkpoint_without_witness_quorum_is_refused(log_signer: Signer) -> None:
    message = signed(Log(entries(5)).checkpoint(5), log_signer, WENDY)
    with pytest.raises(CustodianToolError, match="cosigned by 1 of your 2 witnesses"):
        open_witnessed(message, log_signer, [WENDY, WALTER], quorum=2)


def test_checkpoint_with_no_cosignature_is_refused(log_signer: Signer) -> None:
    message = signed(Log(entries(5)).checkpoint(5), log_signer)
    with pytest.raises(CustodianToolError, match=r"cosigned by 0 of your 1 witnesses \(none\)"):
        open_witnessed(message, log_signer, [WENDY], quorum=1)


def test_checkpoint_with_the_quorum_is_accepted(log_signer: Signer) -> None:
    checkpoint = Log(entries(5)).checkpoint(5)
    both = signed(checkpoint, log_signer, WENDY, WALTER)
    assert open_witnessed(both, log_signer, [WENDY, WALTER], quorum=2) == checkpoint
    one = signed(checkpoint, log_signer, WALTER)
    assert open_witnessed(one, log_signer, [WENDY, WALTER], quorum=1) == checkpoint
    # The tool tells the custodian whose cosignatures it checked (MALLORY's is not asked for).
    _, names = checkpoint_open_witnessed(
        message=signed(checkpoint, log_signer, WALTER, MALLORY), verifier=log_signer.verifier,
        origin=ORIGIN, witnesses=[WENDY.verifier, WALTER.verifier], quorum=1)
    assert names == (WALTER.name,)


def test_cosignature_of_a_witness_not_configured_does_not_count(log_signer: Signer) -> None:
    message = signed(Log(entries(5)).checkpoint(5), log_signer, MALLORY)
    with pytest.raises(CustodianToolError, match="cosigned by 0 of your 1"):
        open_witnessed(message, log_signer, [WENDY], quorum=1)


def test_a_witness_line_copied_from_another_checkpoint_rejects_it(log_signer: Signer) -> None:
    log = Log(entries(6))
    honest = signed(log.checkpoint(6), log_signer, WENDY).decode()
    wendy_line = next(line for line in honest.splitlines() if WENDY.name in line)
    forked = signed(Log(entries(6, b"forked")).checkpoint(6), log_signer).decode()
    with pytest.raises(CustodianToolError, match="does NOT verify"):
        open_witnessed((forked + wendy_line + "\n").encode(), log_signer, [WENDY], quorum=1)


def test_a_quorum_above_the_witnesses_configured_is_a_configuration_error(
    log_signer: Signer,
) -> None:
    message = signed(Log(entries(5)).checkpoint(5), log_signer, WENDY)
    with pytest.raises(CustodianToolError, match="quorum of 2 needs at least 2"):
        open_witnessed(message, log_signer, [WENDY], quorum=2)


def test_the_log_key_is_still_required(log_signer: Signer) -> None:
    impostor = signer_parse(log_key_generate(name=ORIGIN)[0])
    message = signed(Log(entries(5)).checkpoint(5), impostor, WENDY)
    with pytest.raises(CustodianToolError, match="does NOT verify"):
        open_witnessed(message, log_signer, [WENDY], quorum=1)


# --- consistency with the last checkpoint seen --------------------------------------------


def test_fork_of_the_same_size_with_another_root_is_refused() -> None:
    honest, forked = Log(entries(7)), Log(entries(7, b"forked"))
    with pytest.raises(LogForked, match="NOT consistent"):
        checkpoint_consistent(seen=honest.checkpoint(7), new=forked.checkpoint(7),
                              read_tiles=forked.read_tiles)


def test_growth_that_rewrote_the_past_is_refused() -> None:
    # The fork serves its own tiles; no tiles can make the rewritten tree extend the old.
    honest = Log(entries(5))
    rewritten = Log([*entries(2), b"rewritten", *entries(300)[3:]])
    with pytest.raises(LogForked):
        checkpoint_consistent(seen=honest.checkpoint(5), new=rewritten.checkpoint(300),
                              read_tiles=rewritten.read_tiles)


def test_honest_growth_is_accepted_from_tiles_alone() -> None:
    log = Log(entries(700))
    for old, new in [(1, 2), (5, 300), (256, 700), (699, 700)]:
        checkpoint_consistent(seen=log.checkpoint(old), new=log.checkpoint(new),
                              read_tiles=log.read_tiles)


def test_tiles_that_lie_cannot_make_a_fork_pass() -> None:
    honest, forked = Log(entries(40)), Log(entries(40, b"forked"))
    with pytest.raises(LogForked):
        checkpoint_consistent(seen=honest.checkpoint(20), new=forked.checkpoint(40),
                              read_tiles=honest.read_tiles)


# --- the state file -------------------------------------------------------------------------


def advance(path: Path, log: Log, size: int, signer: Signer) -> None:
    checkpoint = log.checkpoint(size)
    state_advance(path, verifier=signer.verifier, origin=ORIGIN, checkpoint=checkpoint,
                  message=signed(checkpoint, signer), read_tiles=log.read_tiles)


def remembered(path: Path, signer: Signer) -> int | None:
    checkpoint = state_load(path, verifier=signer.verifier, origin=ORIGIN)
    return None if checkpoint is None else checkpoint.size


def test_state_file_remembers_the_first_checkpoint_and_then_the_largest(
    tmp_path: Path, log_signer: Signer
) -> None:
    state, log = tmp_path / "checkpoint-state", Log(entries(50))
    assert remembered(state, log_signer) is None
    advance(state, log, 10, log_signer)
    assert remembered(state, log_signer) == 10
    advance(state, log, 30, log_signer)
    assert remembered(state, log_signer) == 30
    advance(state, log, 20, log_signer)  # an older, consistent checkpoint: kept the larger
    assert remembered(state, log_signer) == 30


def test_state_file_is_not_updated_when_a_fork_is_refused(
    tmp_path: Path, log_signer: Signer
) -> None:
    state = tmp_path / "checkpoint-state"
    advance(state, Log(entries(10)), 10, log_signer)
    before = state.read_bytes()
    with pytest.raises(LogForked):
        advance(state, Log(entries(12, b"forked")), 12, log_signer)
    assert state.read_bytes() == before


def test_state_file_not_signed_by_the_log_is_refused(tmp_path: Path, log_signer: Signer) -> None:
    state = tmp_path / "checkpoint-state"
    impostor = signer_parse(log_key_generate(name=ORIGIN)[0])
    state.write_bytes(signed(Log(entries(3)).checkpoint(3), impostor))
    with pytest.raises(CustodianToolError, match="no checkpoint signed by the log key"):
        remembered(state, log_signer)


# --- witness keys ---------------------------------------------------------------------------


def test_witness_key_round_trip() -> None:
    skey, vkey = cosigner_key_generate(name="witness.example/wendy")
    name, private_key = cosigner_key_parse(skey)
    verifier = cosigner_verifier_parse(vkey)
    assert name == verifier.name
    cosigner = Cosigner(name=name, private_key=private_key, timestamp=1)
    assert cosigner.key_id == verifier.key_id
    assert verifier.verify(b"text\n", cosigner.sign(b"text\n"))


def test_witness_key_with_a_wrong_key_id_is_refused() -> None:
    skey, _ = cosigner_key_generate(name="witness.example/wendy")
    encoded_seed = skey.rsplit("+", 1)[1]
    with pytest.raises(NoteKeyError):
        cosigner_key_parse(f"PRIVATE+KEY+witness.example/wendy+00000000+{encoded_seed}")
