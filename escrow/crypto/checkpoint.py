"""C2SP tlog-checkpoint: the signed head of the audit log.

A checkpoint is the text of a signed note (`escrow.crypto.note`):

    <origin>
    <tree size, decimal, no leading zeros>
    <base64 of the 32-byte RFC 6962 root hash>
    [extension lines]

signed by the log's Ed25519 key. The origin names the log (by convention the
URL prefix of its tiles without the scheme) so that a checkpoint of one log can
never pass for another's.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from escrow.crypto.errors import CryptoError
from escrow.crypto.merkle import HASH_SIZE
from escrow.crypto.note import NoteSigner, NoteVerifier, note_open, note_sign

# Sizes are signed 64-bit everywhere we store or compare them (Go's tlog, bigint).
MAX_TREE_SIZE = (1 << 63) - 1

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class CheckpointError(CryptoError):
    """A checkpoint cannot be formatted, parsed or trusted."""


class CheckpointFormatError(CheckpointError):
    """Text that is not a C2SP tlog-checkpoint body."""


class CheckpointOriginError(CheckpointError):
    """A validly signed checkpoint of some other log."""


def _line_is_valid(line: str) -> bool:
    # Each part is one non-empty line of note text: no newline or other control
    # character (C2SP signed-note), and encodable as UTF-8.
    if not line or any(ord(ch) < 0x20 for ch in line):
        return False
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class Checkpoint:
    """The log's origin, its tree size and the root hash at that size."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not _line_is_valid(self.origin):
            raise CheckpointFormatError("origin must be one non-empty line")
        if type(self.size) is not int or not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointFormatError(f"tree size {self.size!r} is out of range")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise CheckpointFormatError(f"root hash must be {HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            raise CheckpointFormatError("extensions must be a tuple of lines")
        for line in self.extensions:
            # C2SP tlog-checkpoint: "Extension lines, if any, MUST be non-empty."
            if not isinstance(line, str) or not _line_is_valid(line):
                raise CheckpointFormatError("extension lines must be non-empty single lines")


def checkpoint_format(checkpoint: Checkpoint) -> str:
    """The note text of a checkpoint, final newline included."""
    root = base64.b64encode(checkpoint.root_hash).decode("ascii")
    lines = [checkpoint.origin, str(checkpoint.size), root, *checkpoint.extensions]
    return "".join(line + "\n" for line in lines)


def checkpoint_parse(text: str) -> Checkpoint:
    """The checkpoint a note text holds; `CheckpointFormatError` unless it is one,
    spelled exactly as `checkpoint_format` would spell it."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise CheckpointFormatError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    # C2SP tlog-checkpoint: "a sequence of at least three non-empty lines".
    if len(lines) < 3:
        raise CheckpointFormatError("checkpoint needs origin, size and root hash lines")
    origin, size_text, root_text, *extensions = lines
    # C2SP tlog-checkpoint: ASCII decimal "with no leading zeroes".
    if not _DECIMAL.fullmatch(size_text) or len(size_text) > 19:
        raise CheckpointFormatError("tree size is not a canonical decimal")
    try:
        root_hash = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointFormatError("root hash is not base64") from None
    if base64.b64encode(root_hash).decode("ascii") != root_text:
        raise CheckpointFormatError("root hash is not canonical base64")
    return Checkpoint(
        origin=origin,
        size=int(size_text),
        root_hash=root_hash,
        extensions=tuple(extensions),
    )


def checkpoint_sign(*, checkpoint: Checkpoint, signer: NoteSigner) -> bytes:
    """The checkpoint as a note signed by the log's key."""
    return note_sign(text=checkpoint_format(checkpoint), signers=[signer])


def checkpoint_open(*, message: bytes, verifier: NoteVerifier, origin: str) -> Checkpoint:
    """The checkpoint in a signed note, once `verifier` has vouched for it.

    Raises the `NoteError` of `note_open` unless the log's key signed the note,
    `CheckpointFormatError` if the signed text is not a checkpoint, and
    `CheckpointOriginError` if it is another log's checkpoint. Other signatures
    (witnesses) are ignored here; see `escrow.crypto.cosignature`.
    """
    note = note_open(message=message, verifiers=[verifier])
    checkpoint = checkpoint_parse(note.text)
    if checkpoint.origin != origin:
        raise CheckpointOriginError(
            f"checkpoint is for origin {checkpoint.origin!r}, expected {origin!r}"
        )
    return checkpoint
