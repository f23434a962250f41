"""C2SP tlog-cosignature, Ed25519 `cosignature/v1`: witness signatures on checkpoints.

A witness that has checked a checkpoint is consistent with everything it saw
before adds a note signature line to it. Its key is a note key of signature
type 0x04, and its signature is a timestamp (big-endian uint64, POSIX seconds)
followed by an Ed25519 signature over

    cosignature/v1
    time <timestamp>
    <the checkpoint's note text>

These plug into `escrow.crypto.note`: `CosignatureVerifier` is a `NoteVerifier`
and `Cosigner` a `NoteSigner`, so witness lines are opened by `note_open` and
added by `note_sign` like any other signature.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from escrow.crypto.checkpoint import Checkpoint, CheckpointOriginError, checkpoint_parse
from escrow.crypto.errors import CryptoError
from escrow.crypto.note import (
    _SIGNER_KEY_PREFIX,
    ED25519_KEY_SIZE,
    ED25519_SIGNATURE_SIZE,
    NoteKeyError,
    NoteSignature,
    NoteVerifier,
    UnknownVerifierError,
    _split_key,
    ed25519_verifier_init,
    key_id,
    key_name_is_valid,
    note_open,
    verifier_key_decode,
)

# C2SP signed-note / tlog-cosignature: signature type of timestamped Ed25519
# checkpoint cosignatures.
SIGNATURE_TYPE_COSIGNATURE_V1 = 0x04
# C2SP tlog-cosignature: the timestamp "MUST NOT exceed 2^63 - 1".
MAX_TIMESTAMP = (1 << 63) - 1
_TIMESTAMP_SIZE = 8


class CosignatureError(CryptoError):
    """A cosignature cannot be made or read."""


def cosigned_message(*, text: bytes, timestamp: int) -> bytes:
    """C2SP tlog-cosignature: the bytes an Ed25519 cosigner signs for a note text."""
    if type(timestamp) is not int or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CosignatureError(f"timestamp {timestamp!r} is out of range")
    return b"cosignature/v1\ntime %d\n" % timestamp + text


def cosignature_timestamp(signature: NoteSignature) -> int:
    """The timestamp a cosignature line carries (not proof that it is genuine)."""
    if len(signature.signature) != _TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE:
        raise CosignatureError("a cosignature is a timestamp and a 64-byte signature")
    return int.from_bytes(signature.signature[:_TIMESTAMP_SIZE], "big")


def cosigner_key_encode(*, name: str, public_key: bytes) -> str:
    """The verifier key string of an Ed25519 cosigner (signature type 0x04)."""
    if not key_name_is_valid(name):
        raise NoteKeyError(f"invalid key name {name!r}")
    if len(public_key) != ED25519_KEY_SIZE:
        raise NoteKeyError("an Ed25519 public key is 32 bytes")
    typed = bytes([SIGNATURE_TYPE_COSIGNATURE_V1]) + public_key
    encoded = base64.b64encode(typed).decode("ascii")
    return f"{name}+{key_id(name=name, key=typed):08x}+{encoded}"


@dataclass(frozen=True)
class CosignatureVerifier:
    """A witness's Ed25519 cosignature/v1 key."""

    name: str
    public_key: bytes
    key_id: int = field(init=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ed25519_verifier_init(self, signature_type=SIGNATURE_TYPE_COSIGNATURE_V1)

    @property
    def vkey(self) -> str:
        return cosigner_key_encode(name=self.name, public_key=self.public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != _TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE:
            return False
        timestamp = int.from_bytes(signature[:_TIMESTAMP_SIZE], "big")
        if timestamp > MAX_TIMESTAMP:
            return False
        try:
            self._key.verify(
                signature[_TIMESTAMP_SIZE:], cosigned_message(text=message, timestamp=timestamp)
            )
        except InvalidSignature:
            return False
        return True


def cosigner_verifier_parse(vkey: str) -> CosignatureVerifier:
    """The cosignature verifier for a type 0x04 verifier key string."""
    name, _, key = verifier_key_decode(vkey)
    if key[0] != SIGNATURE_TYPE_COSIGNATURE_V1:
        raise NoteKeyError(f"not a cosignature/v1 key: signature type 0x{key[0]:02x}")
    if len(key) != 1 + ED25519_KEY_SIZE:
        raise NoteKeyError("an Ed25519 cosigner key holds 32 bytes")
    return CosignatureVerifier(name=name, public_key=key[1:])


def cosigner_key_generate(*, name: str) -> tuple[str, str]:
    """A fresh witness key for `name`: (signer key, verifier key) strings.

    The signer key follows the signed-note convention `PRIVATE+KEY+name+keyid+base64`
    with the cosignature/v1 type byte before the Ed25519 seed; it is a secret.
    """
    if not key_name_is_valid(name):
        raise NoteKeyError(f"invalid key name {name!r}")
    private_key = Ed25519PrivateKey.generate()
    vkey = cosigner_key_encode(name=name, public_key=private_key.public_key().public_bytes_raw())
    _, keyid, _ = verifier_key_decode(vkey)
    typed_seed = bytes([SIGNATURE_TYPE_COSIGNATURE_V1]) + private_key.private_bytes_raw()
    encoded = base64.b64encode(typed_seed).decode("ascii")
    return f"{_SIGNER_KEY_PREFIX}{name}+{keyid:08x}+{encoded}", vkey


def cosigner_key_parse(skey: str) -> tuple[str, Ed25519PrivateKey]:
    """The name and private key of a witness signer key, checked against its key ID."""
    if not isinstance(skey, str) or not skey.startswith(_SIGNER_KEY_PREFIX):
        raise NoteKeyError("a signer key starts with PRIVATE+KEY+")
    name, keyid, seed = _split_key(skey[len(_SIGNER_KEY_PREFIX) :])
    if seed[0] != SIGNATURE_TYPE_COSIGNATURE_V1:
        raise NoteKeyError(f"not a cosignature/v1 key: signature type 0x{seed[0]:02x}")
    if len(seed) != 1 + ED25519_KEY_SIZE:
        raise NoteKeyError("an Ed25519 witness signer key holds a 32-byte seed")
    private_key = Ed25519PrivateKey.from_private_bytes(seed[1:])
    public_key = private_key.public_key().public_bytes_raw()
    typed_public = bytes([SIGNATURE_TYPE_COSIGNATURE_V1]) + public_key
    # The key ID names the public key, so it can only be checked after deriving it.
    if key_id(name=name, key=typed_public) != keyid:
        raise NoteKeyError("signer key ID does not match its name and key")
    return name, private_key


@dataclass(frozen=True)
class Cosigner:
    """A witness key signing at one given time (the caller reads the clock)."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False, compare=False)
    timestamp: int
    key_id: int = field(init=False)

    def __post_init__(self) -> None:
        if not key_name_is_valid(self.name):
            raise NoteKeyError(f"invalid key name {self.name!r}")
        if type(self.timestamp) is not int or not 0 <= self.timestamp <= MAX_TIMESTAMP:
            raise CosignatureError(f"timestamp {self.timestamp!r} is out of range")
        public_key = self.private_key.public_key().public_bytes_raw()
        typed = bytes([SIGNATURE_TYPE_COSIGNATURE_V1]) + public_key
        object.__setattr__(self, "key_id", key_id(name=self.name, key=typed))

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(
            name=self.name, public_key=self.private_key.public_key().public_bytes_raw()
        )

    def sign(self, message: bytes) -> bytes:
        signed = cosigned_message(text=message, timestamp=self.timestamp)
        return self.timestamp.to_bytes(_TIMESTAMP_SIZE, "big") + self.private_key.sign(signed)


@dataclass(frozen=True)
class Cosignature:
    """A verified witness cosignature: who, and when they say they checked."""

    name: str
    key_id: int
    timestamp: int


def checkpoint_open_cosigned(
    *,
    message: bytes,
    verifier: NoteVerifier,
    origin: str,
    cosigners: Sequence[CosignatureVerifier],
) -> tuple[Checkpoint, tuple[Cosignature, ...]]:
    """A checkpoint signed by the log's key, and the witnesses' good cosignatures.

    The log's own signature is required (a note signed only by witnesses is
    rejected with `UnknownVerifierError`); a bad cosignature from a configured
    witness rejects the note, as any bad signature from a known key does.
    Counting the cosignatures against a quorum policy is the caller's call.
    """
    note = note_open(message=message, verifiers=[verifier, *cosigners])
    signed_by = {(s.name, s.key_id) for s in note.signatures}
    if (verifier.name, verifier.key_id) not in signed_by:
        raise UnknownVerifierError("checkpoint lacks the log's signature", note=note)
    checkpoint = checkpoint_parse(note.text)
    if checkpoint.origin != origin:
        raise CheckpointOriginError(
            f"checkpoint is for origin {checkpoint.origin!r}, expected {origin!r}"
        )
    witness_keys = {(c.name, c.key_id) for c in cosigners}
    cosignatures = tuple(
        Cosignature(name=s.name, key_id=s.key_id, timestamp=cosignature_timestamp(s))
        for s in note.signatures
        if (s.name, s.key_id) in witness_keys
    )
    return checkpoint, cosignatures
