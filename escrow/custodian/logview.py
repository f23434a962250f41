"""What the tool believes about the log: the witness quorum and the last checkpoint seen.

Whoever holds the log's signing key (a compromised operator) can sign a private fork
of the log and show it to one custodian alone. Two checks close that door:

* witnesses: independent parties cosign (C2SP tlog-cosignature) only checkpoints
  consistent with everything they have seen; the tool accepts a checkpoint only with
  good cosignatures from a quorum of the witness keys the custodian configured;
* memory: the tool keeps the last checkpoint it accepted in a small state file and
  accepts a new one only if the two are consistent (RFC 9162 s2.1.4): the proof is
  computed from the log's public hash tiles and checked here against both signed roots,
  so the server is trusted for nothing but availability.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from escrow.crypto.checkpoint import Checkpoint, CheckpointError, checkpoint_open
from escrow.crypto.cosignature import (
    CosignatureVerifier,
    checkpoint_open_cosigned,
    cosigner_verifier_parse,
)
from escrow.crypto.merkle import ConsistencyProofError, consistency_verify
from escrow.crypto.note import NoteError, Verifier, verifier_parse
from escrow.crypto.tiles import ReadTiles, TileError, consistency_proof_from_tiles
from escrow.custodian.errors import CustodianToolError, fail
from escrow.custodian.files import private_file_write


class LogForked(CustodianToolError):
    """Two checkpoints of the log that cannot both be true: keep both as evidence."""


def log_verifier(log_key: str) -> Verifier:
    try:
        return verifier_parse(log_key)
    except NoteError as exc:
        fail(f"the log key is not a verifier key (name+hash+base64): {exc}")


def witness_verifiers(witness_keys: Sequence[str]) -> tuple[CosignatureVerifier, ...]:
    witnesses = []
    for vkey in witness_keys:
        try:
            witnesses.append(cosigner_verifier_parse(vkey))
        except NoteError as exc:
            fail(f"a witness key is not a cosignature/v1 verifier key: {exc}")
    if len({(w.name, w.key_id) for w in witnesses}) != len(witnesses):
        fail("the same witness key is configured twice")
    return tuple(witnesses)


def checkpoint_open_witnessed(
    *, message: bytes, verifier: Verifier, origin: str,
    witnesses: Sequence[CosignatureVerifier], quorum: int,
) -> tuple[Checkpoint, tuple[str, ...]]:
    """The checkpoint, signed by the log key and cosigned by `quorum` distinct witnesses,
    and the names of the configured witnesses whose cosignatures verified."""
    if not 0 <= quorum <= len(witnesses):
        fail(f"a witness quorum of {quorum} needs at least {quorum} witness keys")
    try:
        if not witnesses:
            return checkpoint_open(message=message, verifier=verifier, origin=origin), ()
        checkpoint, cosignatures = checkpoint_open_cosigned(
            message=message, verifier=verifier, origin=origin, cosigners=witnesses
        )
    except (NoteError, CheckpointError) as exc:
        keys = "log key or witness keys" if witnesses else "log key"
        fail(f"the log checkpoint does NOT verify against your {keys}: {exc}")
    cosigned_by = sorted({c.name for c in cosignatures})
    if len(cosigned_by) < quorum:
        named = ", ".join(cosigned_by) or "none"
        fail(f"the checkpoint of size {checkpoint.size} is cosigned by {len(cosigned_by)} of "
             f"your {len(witnesses)} witnesses ({named}); {quorum} are needed. A checkpoint "
             "no witness vouches for may be a fork shown to you alone; try again once the "
             "witnesses have seen it")
    return checkpoint, tuple(cosigned_by)


def checkpoint_consistent(*, seen: Checkpoint, new: Checkpoint, read_tiles: ReadTiles) -> None:
    """Both checkpoints are of one append-only tree, whichever is larger; else LogForked."""
    older, newer = (seen, new) if seen.size <= new.size else (new, seen)
    try:
        proof = consistency_proof_from_tiles(
            old_size=older.size, new_size=newer.size, read_tiles=read_tiles
        )
        consistency_verify(
            old_size=older.size, new_size=newer.size, old_root=older.root_hash,
            new_root=newer.root_hash, proof=proof,
        )
    except (TileError, ConsistencyProofError) as exc:
        raise LogForked(
            f"the log's checkpoint of size {new.size} is NOT consistent with the one of size "
            f"{seen.size} seen before ({exc}): the log may have been forked or rewritten. "
            "Keep the state file and this checkpoint as evidence and tell the auditors"
        ) from None


def state_load(path: Path, *, verifier: Verifier, origin: str) -> Checkpoint | None:
    """The last checkpoint accepted, re-verified under the log key; None before the first."""
    try:
        message = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        fail(f"cannot read the checkpoint state file: {exc.strerror}")
    try:
        return checkpoint_open(message=message, verifier=verifier, origin=origin)
    except (NoteError, CheckpointError) as exc:
        fail(f"the checkpoint state file {path} holds no checkpoint signed by the log key: "
             f"{exc}")


def state_save(path: Path, *, message: bytes) -> None:
    """Replace the state file in one rename, readable by its owner only."""
    private_file_write(path, message)


def state_advance(
    path: Path, *, verifier: Verifier, origin: str, checkpoint: Checkpoint, message: bytes,
    read_tiles: ReadTiles,
) -> None:
    """Check `checkpoint` against the one remembered, then remember the larger of the two.

    Nothing is written unless the check passed: a refused checkpoint never becomes the
    reference the next one is compared with.
    """
    seen = state_load(path, verifier=verifier, origin=origin)
    if seen is not None:
        checkpoint_consistent(seen=seen, new=checkpoint, read_tiles=read_tiles)
        if checkpoint.size < seen.size:
            return
    state_save(path, message=message)
