"""Salted SHA-256 commitments to sealed audit details, and their at-rest sealing.

A log entry carries only `commitment = SHA-256(domain || salt || detail)`. The 256-bit
random salt makes the commitment hiding even for low-entropy details (a case
reference, an officer's badge number): without the salt nobody can confirm a guess.
An auditor given (salt, detail) checks the commitment and so knows the detail is the
one that was logged.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from escrow.crypto.errors import CryptoError

_COMMIT_DOMAIN = b"identity-escrow/v1/sealed-detail\x00"
SALT_BYTES = 32
_NONCE_BYTES = 12


class CommitmentMismatch(CryptoError):
    """The opened detail does not match the logged commitment."""


class SealedDetailError(CryptoError):
    """A sealed detail failed to decrypt: wrong key, wrong binding, or tampering."""


@dataclass(frozen=True, repr=False)
class Opening:
    salt: bytes
    detail: bytes


def commitment_compute(*, salt: bytes, detail: bytes) -> bytes:
    if len(salt) != SALT_BYTES:
        raise ValueError("salt must be 32 bytes")
    return hashlib.sha256(_COMMIT_DOMAIN + salt + detail).digest()


def commitment_create(*, detail: bytes) -> tuple[Opening, bytes]:
    opening = Opening(salt=os.urandom(SALT_BYTES), detail=detail)
    return opening, commitment_compute(salt=opening.salt, detail=detail)


def commitment_verify(*, opening: Opening, commitment: bytes) -> None:
    expected = commitment_compute(salt=opening.salt, detail=opening.detail)
    if not hmac.compare_digest(expected, commitment):
        raise CommitmentMismatch("the detail does not open the commitment")


def opening_seal(*, key: bytes, opening: Opening, commitment: bytes) -> bytes:
    """AES-256-GCM of salt||detail, bound to its commitment so rows cannot be swapped."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, opening.salt + opening.detail, commitment)


def opening_unseal(*, key: bytes, sealed: bytes, commitment: bytes) -> Opening:
    if len(sealed) < _NONCE_BYTES + SALT_BYTES + 16:
        raise SealedDetailError("sealed detail is truncated")
    try:
        plain = AESGCM(key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], commitment)
    except InvalidTag as exc:
        raise SealedDetailError("sealed detail failed authentication") from exc
    opening = Opening(salt=plain[:SALT_BYTES], detail=plain[SALT_BYTES:])
    commitment_verify(opening=opening, commitment=commitment)
    return opening
