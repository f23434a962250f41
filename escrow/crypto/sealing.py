"""AES-256-GCM sealing of a blob at rest, bound to the row it belongs to.

`sealed = nonce (12 bytes) || ciphertext || tag`. The associated data names the owner
(e.g. a request id), so a sealed blob copied onto another row fails to open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from escrow.crypto.errors import CryptoError

_NONCE_BYTES = 12
_TAG_BYTES = 16
KEY_BYTES = 32


class BlobUnsealError(CryptoError):
    """The blob failed to open: wrong key, wrong owner, truncation or tampering."""


def blob_seal(*, key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    if len(key) != KEY_BYTES:
        raise ValueError("AES-256-GCM needs a 32-byte key")
    # Random 96-bit nonces: safe far beyond the number of documents one key will seal.
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def blob_unseal(*, key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    if len(key) != KEY_BYTES:
        raise ValueError("AES-256-GCM needs a 32-byte key")
    if len(sealed) < _NONCE_BYTES + _TAG_BYTES:
        raise BlobUnsealError("sealed blob is truncated")
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], associated_data)
    except InvalidTag as exc:
        raise BlobUnsealError("sealed blob failed authentication") from exc
