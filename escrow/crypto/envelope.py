"""Per-field envelope encryption to the threshold escrow key (ECIES over Ed25519).

Each identity field gets its own random data key (AES-256-GCM) and its own ephemeral
scalar r. The data key is wrapped under a key derived from rX, where X is the escrow
public key (version 3 takes rX's X25519 u-coordinate), so unwrapping needs xR = rX,
which only k custodians together can produce. A fresh R = rG per field means the
partials released for one field open that field and no other.

The associated data binds record, platform, field name and key epoch: a ciphertext
copied to another row, field or epoch fails authentication instead of decrypting as
someone else's identity. See docs/crypto.md for the byte layout.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from escrow.crypto import group
from escrow.crypto.errors import CryptoError
from escrow.crypto.kdf import context_info, hkdf_sha256
from escrow.crypto.threshold import MAX_EPOCH, EscrowPublicKey

# Version 1 sealed the bare plaintext; version 2 pads it to a bucket first; version 3
# (current) pads too and agrees its wrapping key by X25519 on the escrow key's
# u-coordinate. All open, so records sealed under any of them stay releasable.
ENVELOPE_VERSION = 3
_VERSIONS = (1, 2, 3)
# Padded sizes (2-byte length prefix included); past the last, multiples of it.
PAD_BUCKETS = (32, 64, 128, 256)

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
WRAPPED_KEY_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES
MIN_CIPHERTEXT_BYTES = NONCE_BYTES + TAG_BYTES

_HEADER_BYTES = 1 + group.POINT_BYTES
_WRAPPED_END = _HEADER_BYTES + WRAPPED_KEY_BYTES


class InvalidFieldContext(CryptoError):
    """A field context is malformed or belongs to another key epoch."""


class SealedFieldFormatError(CryptoError):
    """Stored bytes are not a well-formed sealed field (version, lengths, point)."""


class FieldDecryptionError(CryptoError):
    """A field could not be opened: tampered bytes, wrong context or wrong shared point.

    One class for every cause, deliberately: telling them apart would give an attacker
    with a decryption oracle a way to probe which part they got right.
    """


@dataclass(frozen=True)
class FieldContext:
    """Where a ciphertext belongs; authenticated but not encrypted."""

    record_id: str
    platform_id: str
    field_name: str
    epoch: int

    def __post_init__(self) -> None:
        for value in (self.record_id, self.platform_id, self.field_name):
            if not isinstance(value, str) or not value:
                raise InvalidFieldContext("record, platform and field must be non-empty text")
        epoch = self.epoch
        if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= MAX_EPOCH:
            raise InvalidFieldContext("epoch out of range")

    def aad(self) -> bytes:
        """Length-prefixed so that no two contexts share an encoding."""
        return context_info(
            "field-aad",
            self.record_id,
            self.platform_id,
            self.field_name,
            self.epoch.to_bytes(4, "big"),
        )


@dataclass(frozen=True)
class SealedField:
    """R, the wrapped data key (nonce || AES-GCM output) and the field ciphertext
    (nonce || AES-GCM output). Lengths are checked here; the point in `from_bytes`,
    which is where untrusted bytes come in.
    """

    ephemeral_point: bytes
    wrapped_key: bytes
    ciphertext: bytes
    version: int = ENVELOPE_VERSION

    def __post_init__(self) -> None:
        if self.version not in _VERSIONS:
            raise SealedFieldFormatError("unknown sealed field version")
        if not (
            isinstance(self.ephemeral_point, bytes)
            and isinstance(self.wrapped_key, bytes)
            and isinstance(self.ciphertext, bytes)
        ):
            raise SealedFieldFormatError("sealed field parts must be bytes")
        if len(self.ephemeral_point) != group.POINT_BYTES:
            raise SealedFieldFormatError("ephemeral point must be 32 bytes")
        if len(self.wrapped_key) != WRAPPED_KEY_BYTES:
            raise SealedFieldFormatError("wrapped key must be 60 bytes")
        if len(self.ciphertext) < MIN_CIPHERTEXT_BYTES:
            raise SealedFieldFormatError("ciphertext is shorter than nonce and tag")

    def to_bytes(self) -> bytes:
        return (
            bytes((self.version,)) + self.ephemeral_point + self.wrapped_key + self.ciphertext
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> SealedField:
        if not isinstance(raw, bytes) or len(raw) < _WRAPPED_END + MIN_CIPHERTEXT_BYTES:
            raise SealedFieldFormatError("sealed field is too short")
        if raw[0] not in _VERSIONS:
            raise SealedFieldFormatError("unknown sealed field version")
        ephemeral_point = raw[1:_HEADER_BYTES]
        if not group.point_is_valid(ephemeral_point):
            # Custodians multiply R by their share; a small-order R would leak share bits.
            raise SealedFieldFormatError("ephemeral point is not a valid group element")
        return cls(
            ephemeral_point=ephemeral_point,
            wrapped_key=raw[_HEADER_BYTES:_WRAPPED_END],
            ciphertext=raw[_WRAPPED_END:],
            version=raw[0],
        )


def padded(plaintext: bytes) -> bytes:
    """`u16 length || plaintext || zeros`, as long as the smallest bucket that fits."""
    if len(plaintext) > 0xFFFF:
        raise ValueError("a field is at most 65535 bytes")
    body = len(plaintext).to_bytes(2, "big") + plaintext
    step = PAD_BUCKETS[-1]
    size = next((b for b in PAD_BUCKETS if len(body) <= b), -(-len(body) // step) * step)
    return body + bytes(size - len(body))


def _unpadded(body: bytes) -> bytes:
    length = int.from_bytes(body[:2], "big")
    if len(body) < 2 or length > len(body) - 2 or any(body[2 + length :]):
        raise FieldDecryptionError("field cannot be opened")
    return body[2 : 2 + length]


def _data_aad(aad: bytes, version: int) -> bytes:
    # Version 2 binds its number, so a padded field relabelled as version 1 fails to open.
    return aad if version == 1 else aad + bytes((version,))


def _wrapping_key(
    *, shared_secret: bytes, ephemeral_point: bytes, public_point: bytes, aad: bytes,
    version: int,
) -> bytes:
    # Binding R and X into the KDF ties the key to this exact ephemeral/recipient pair
    # (as ECIES-KEM does), and the AAD to the field it protects. Version 3's secret is a
    # u-coordinate, not a point: its own label keeps the two key agreements apart.
    label = "field-wrap-x25519" if version >= 3 else "field-wrap"
    return hkdf_sha256(
        ikm=shared_secret,
        salt=None,
        info=context_info(label, ephemeral_point, public_point, aad),
    )


def _seal(*, public_key: EscrowPublicKey, aad: bytes, plaintext: bytes,
          version: int = ENVELOPE_VERSION) -> SealedField:
    data_key = os.urandom(KEY_BYTES)
    data_nonce = os.urandom(NONCE_BYTES)
    body = plaintext if version == 1 else padded(plaintext)
    ciphertext = data_nonce + AESGCM(data_key).encrypt(data_nonce, body, _data_aad(aad, version))
    if version >= 3:  # R = rG and u(rX), the u-coordinate of the point xR gives
        ephemeral_point, shared_secret = group.ephemeral_key_agreement_x25519(public_key.public_u)
    else:  # R = rG and the point rX
        ephemeral_point, shared_secret = group.ephemeral_key_agreement(public_key.public_point)
    wrapping_key = _wrapping_key(
        shared_secret=shared_secret,
        ephemeral_point=ephemeral_point,
        public_point=public_key.public_point,
        aad=aad,
        version=version,
    )
    wrap_nonce = os.urandom(NONCE_BYTES)
    wrapped_key = wrap_nonce + AESGCM(wrapping_key).encrypt(wrap_nonce, data_key, aad)
    return SealedField(
        ephemeral_point=ephemeral_point, wrapped_key=wrapped_key, ciphertext=ciphertext,
        version=version,
    )


def _check_epoch(public_key: EscrowPublicKey, context: FieldContext) -> None:
    if context.epoch != public_key.epoch:
        raise InvalidFieldContext("context epoch differs from the escrow key epoch")


def field_seal(
    *, public_key: EscrowPublicKey, context: FieldContext, plaintext: bytes
) -> SealedField:
    """Encrypt one field to the escrow key; only xR (k custodians) can open it."""
    _check_epoch(public_key, context)
    return _seal(public_key=public_key, aad=context.aad(), plaintext=plaintext)


def field_seal_many(
    *, public_key: EscrowPublicKey, fields: Sequence[tuple[FieldContext, bytes]]
) -> list[SealedField]:
    """Seal every (context, plaintext) pair, each with its own data key and R.

    Every context is checked before anything is encrypted, so a bad field in the
    middle of an identity leaves no half-sealed record behind.
    """
    for context, _ in fields:
        _check_epoch(public_key, context)
    return [
        _seal(public_key=public_key, aad=context.aad(), plaintext=plaintext)
        for context, plaintext in fields
    ]


def field_open(
    *,
    sealed: SealedField,
    context: FieldContext,
    shared_point: bytes,
    public_key: EscrowPublicKey,
) -> bytes:
    """Decrypt with shared_point = xR, the combination of k custodian partials."""
    if context.epoch != public_key.epoch or not group.point_is_valid(shared_point):
        raise FieldDecryptionError("field cannot be opened")
    aad = context.aad()
    wrapping_key = _wrapping_key(
        shared_secret=(group.montgomery_u(shared_point) if sealed.version >= 3
                       else shared_point),
        ephemeral_point=sealed.ephemeral_point,
        public_point=public_key.public_point,
        aad=aad,
        version=sealed.version,
    )
    try:
        data_key = AESGCM(wrapping_key).decrypt(
            sealed.wrapped_key[:NONCE_BYTES], sealed.wrapped_key[NONCE_BYTES:], aad
        )
        body = AESGCM(data_key).decrypt(sealed.ciphertext[:NONCE_BYTES],
                                        sealed.ciphertext[NONCE_BYTES:],
                                        _data_aad(aad, sealed.version))
    except InvalidTag as exc:
        raise FieldDecryptionError("field cannot be opened") from exc
    return body if sealed.version == 1 else _unpadded(body)


POINT_COMMITMENT_BYTES = 16


def point_commitment(*, context: FieldContext, ephemeral_point: bytes) -> bytes:
    """A public commitment binding a field's ephemeral point R to its context.

    The enrolment's log entry carries one per field. Custodians decrypt whatever points
    the server shows them, so without this a compromised server could present a
    victim's R under an approved target's label; with it, the custodian tool checks
    each R against the logged enrolment before consenting. 128 bits suffice: forging
    means a second preimage for a specific logged value, not a birthday collision.
    """
    # Only the length is checked: validating the point costs a scalar multiplication,
    # and every consumer (partial_decrypt) validates the points it will use anyway.
    if len(ephemeral_point) != group.POINT_BYTES:
        raise SealedFieldFormatError("an ephemeral point is 32 bytes")
    digest = hashlib.sha256(context_info("point-commitment", context.aad(), ephemeral_point))
    return digest.digest()[:POINT_COMMITMENT_BYTES]
