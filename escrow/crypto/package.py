"""Sealing a disclosure package for the requesting agency.

Two ways out, both ending with only the agency able to read the package:

* to the agency's registered X25519 key with libsodium's sealed box
  (crypto_box_seal: an ephemeral X25519 key, XSalsa20-Poly1305). Anyone can seal,
  only the holder of the private key can open, and the service keeps nothing that
  opens it;
* when the agency has no registered key, under a random single-use download secret:
  AES-256-GCM with a key derived by HKDF from the secret. The service keeps the
  ciphertext and SHA-256 of the secret, hands the secret out once, and forgets it.

The package content carries a random salt and is committed to in the log as
SHA-256(context || salt || content): the agency can check that what it received is
what the log recorded, while the public log learns nothing about a low-entropy
identity (a name, a date of birth) that a bare hash would let anyone guess.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

import nacl.exceptions
import nacl.public
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from escrow.crypto.errors import CryptoError
from escrow.crypto.kdf import context_info, hkdf_sha256

X25519_KEY_BYTES = 32
DOWNLOAD_SECRET_BYTES = 32
CONTENT_SALT_BYTES = 32
NONCE_BYTES = 12
SECRET_SEALED_VERSION = 1


class PackageKeyError(CryptoError):
    """An agency's registered package key is not a base64 X25519 public key."""


class PackageOpenError(CryptoError):
    """A sealed package did not open: wrong key or secret, or altered bytes."""


def recipient_key_parse(text: str) -> bytes:
    """The 32 raw bytes of a base64 X25519 public key, strictly parsed."""
    if not isinstance(text, str):
        raise PackageKeyError("a package key is base64 text")
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PackageKeyError("a package key is base64") from exc
    if len(raw) != X25519_KEY_BYTES:
        raise PackageKeyError("an X25519 public key is 32 bytes")
    if raw == bytes(X25519_KEY_BYTES):
        # The all-zero key would make every shared secret zero.
        raise PackageKeyError("the all-zero key is not a public key")
    return raw


def recipient_keypair_generate() -> tuple[bytes, bytes]:
    """(private, public) raw X25519 keys, for an agency setting up its package key."""
    private = nacl.public.PrivateKey.generate()
    return bytes(private), bytes(private.public_key)


def package_seal_to_recipient(*, recipient_public_key: bytes, plaintext: bytes) -> bytes:
    """crypto_box_seal(plaintext, pk): 48 bytes of overhead, opened only with sk."""
    if not isinstance(plaintext, bytes):
        raise TypeError("plaintext must be bytes")
    box = nacl.public.SealedBox(nacl.public.PublicKey(recipient_public_key))
    return bytes(box.encrypt(plaintext))


def package_open_as_recipient(*, recipient_private_key: bytes, sealed: bytes) -> bytes:
    """The agency's side of `package_seal_to_recipient`."""
    box = nacl.public.SealedBox(nacl.public.PrivateKey(recipient_private_key))
    try:
        return bytes(box.decrypt(sealed))
    except nacl.exceptions.CryptoError as exc:
        raise PackageOpenError("package did not open with this key") from exc


def download_secret_generate() -> bytes:
    return os.urandom(DOWNLOAD_SECRET_BYTES)


def download_secret_digest(secret: bytes) -> bytes:
    """What the service stores to recognise the secret; 256 random bits need no slow hash."""
    return hashlib.sha256(context_info("package-download-secret", secret)).digest()


def download_secret_matches(*, secret: bytes, digest: bytes) -> bool:
    return hmac.compare_digest(download_secret_digest(secret), digest)


def _secret_key(secret: bytes, aad: bytes) -> bytes:
    return hkdf_sha256(ikm=secret, salt=None, info=context_info("package-download-key", aad))


def package_seal_with_secret(*, secret: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """version || nonce || AES-256-GCM(HKDF(secret), plaintext, aad)."""
    if len(secret) != DOWNLOAD_SECRET_BYTES:
        raise ValueError("a download secret is 32 bytes")
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(_secret_key(secret, aad)).encrypt(nonce, plaintext, aad)
    return bytes((SECRET_SEALED_VERSION,)) + nonce + ciphertext


def package_open_with_secret(*, secret: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[0] != SECRET_SEALED_VERSION:
        raise PackageOpenError("not a sealed package")
    nonce, ciphertext = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        return AESGCM(_secret_key(secret, aad)).decrypt(nonce, ciphertext, aad)
    except InvalidTag as exc:
        raise PackageOpenError("package did not open with this secret") from exc


def content_salt_generate() -> bytes:
    return os.urandom(CONTENT_SALT_BYTES)


def content_commitment(*, context: bytes, salt: bytes, content: bytes) -> bytes:
    """SHA-256 over a length-prefixed (context, salt, content): hiding and binding."""
    if len(salt) != CONTENT_SALT_BYTES:
        raise ValueError("a content salt is 32 bytes")
    return hashlib.sha256(context_info("package-content", context, salt, content)).digest()
