"""Scalars and points of the Ed25519 prime-order group, through libsodium only.

Scalars are 32-byte little-endian integers below the group order L (RFC 8032 s5.1);
points are 32-byte compressed Edwards encodings. All arithmetic is done by libsodium
(`crypto_core_ed25519_*`, `crypto_scalarmult_ed25519_*noclamp`, and X25519 on the
birationally equivalent Curve25519 for sealing) so no group operation is written by
hand and none runs in Python integers.

Every point that arrives from outside must pass `point_validate`: libsodium's
`crypto_core_ed25519_is_valid_point` refuses non-canonical encodings, points off the
curve, small-order points and points outside the prime-order subgroup, any of which
would let a malicious party learn or force bits of a secret-scalar product.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives import hashes

from escrow.crypto.errors import CryptoError

SCALAR_BYTES = 32
POINT_BYTES = 32

# RFC 8032 s5.1: the base point B, y = 4/5 with even x.
BASE_POINT = bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666")

_ZERO_SCALAR = bytes(SCALAR_BYTES)
_WIDE_BYTES = nacl.bindings.crypto_core_ed25519_NONREDUCEDSCALARBYTES


class InvalidPoint(CryptoError):
    """A point is not the canonical encoding of a prime-order-subgroup element."""


class InvalidScalar(CryptoError):
    """A scalar is malformed, not reduced modulo L, or zero where zero is not allowed."""


class InvalidDomain(CryptoError):
    """A hash was asked for without a domain separator."""


def _scalar_reduce_wide(wide: bytes) -> bytes:
    return nacl.bindings.crypto_core_ed25519_scalar_reduce(wide)


def _check_scalar_length(s: bytes) -> None:
    if not isinstance(s, bytes) or len(s) != SCALAR_BYTES:
        raise InvalidScalar("scalar must be 32 bytes")


def scalar_validate(s: bytes, *, nonzero: bool = True) -> None:
    """Refuse anything but a canonical (fully reduced) scalar, and zero unless allowed.

    Canonicity is checked by round-tripping through libsodium's reduction so that no
    comparison against L is done in Python integers.
    """
    _check_scalar_length(s)
    if _scalar_reduce_wide(s + bytes(_WIDE_BYTES - SCALAR_BYTES)) != s:
        raise InvalidScalar("scalar is not reduced modulo the group order")
    if nonzero and s == _ZERO_SCALAR:
        raise InvalidScalar("scalar is zero")


def scalar_random() -> bytes:
    """A uniformly random non-zero scalar.

    64 random bytes reduced modulo L have a bias below 2**-250, which is how libsodium
    itself derives scalars from hashes; zero is resampled because it would make every
    product the identity.
    """
    while True:
        s = _scalar_reduce_wide(os.urandom(_WIDE_BYTES))
        if s != _ZERO_SCALAR:
            return s


def scalar_from_int(i: int) -> bytes:
    """The scalar i mod L, for 0 <= i < 2**512 (used for small public values: indexes)."""
    if isinstance(i, bool) or not isinstance(i, int) or i < 0 or i >= 1 << (8 * _WIDE_BYTES):
        raise InvalidScalar("integer out of range for a scalar")
    return _scalar_reduce_wide(i.to_bytes(_WIDE_BYTES, "little"))


def scalar_add(a: bytes, b: bytes) -> bytes:
    _check_scalar_length(a)
    _check_scalar_length(b)
    return nacl.bindings.crypto_core_ed25519_scalar_add(a, b)


def scalar_sub(a: bytes, b: bytes) -> bytes:
    _check_scalar_length(a)
    _check_scalar_length(b)
    return nacl.bindings.crypto_core_ed25519_scalar_sub(a, b)


def scalar_mul(a: bytes, b: bytes) -> bytes:
    _check_scalar_length(a)
    _check_scalar_length(b)
    return nacl.bindings.crypto_core_ed25519_scalar_mul(a, b)


def scalar_negate(a: bytes) -> bytes:
    _check_scalar_length(a)
    return nacl.bindings.crypto_core_ed25519_scalar_negate(a)


def scalar_invert(a: bytes) -> bytes:
    _check_scalar_length(a)
    if a == _ZERO_SCALAR:
        raise InvalidScalar("zero has no inverse")
    try:
        return nacl.bindings.crypto_core_ed25519_scalar_invert(a)
    except nacl.exceptions.CryptoError as exc:
        raise InvalidScalar("scalar has no inverse") from exc


def point_is_valid(p: bytes) -> bool:
    return (
        isinstance(p, bytes)
        and len(p) == POINT_BYTES
        and bool(nacl.bindings.crypto_core_ed25519_is_valid_point(p))
    )


def point_validate(p: bytes) -> None:
    """Refuse a point unless it is a canonical, prime-order, non-identity element."""
    if not point_is_valid(p):
        raise InvalidPoint("not a valid prime-order group element")


def point_base_mul(s: bytes) -> bytes:
    """s*G for a canonical non-zero scalar; zero would give the identity, so it is refused."""
    scalar_validate(s)
    try:
        return nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(s)
    except nacl.exceptions.CryptoError as exc:
        raise InvalidScalar("scalar multiplication gave the identity") from exc


def point_mul(p: bytes, s: bytes) -> bytes:
    """s*P. libsodium itself refuses small-order, non-canonical or non-subgroup P."""
    scalar_validate(s)
    if not isinstance(p, bytes) or len(p) != POINT_BYTES:
        raise InvalidPoint("point must be 32 bytes")
    try:
        return nacl.bindings.crypto_scalarmult_ed25519_noclamp(s, p)
    except nacl.exceptions.CryptoError as exc:
        # Only the failure path pays for the check that tells the two causes apart.
        if not point_is_valid(p):
            raise InvalidPoint("not a valid prime-order group element") from exc
        raise InvalidScalar("scalar multiplication gave the identity") from exc


def ephemeral_key_agreement(public_point: bytes) -> tuple[bytes, bytes]:
    """(rG, rP) for a fresh random r that never leaves this function: the KEM half of
    ECIES in envelope versions 1 and 2 (version 3 uses `ephemeral_key_agreement_x25519`).
    Keeping r here means no caller can reuse or log it.

    P must already be validated (it is the escrow key); libsodium re-checks it anyway.
    """
    r = scalar_random()
    try:
        return (
            nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(r),
            nacl.bindings.crypto_scalarmult_ed25519_noclamp(r, public_point),
        )
    except nacl.exceptions.CryptoError as exc:
        raise InvalidPoint("not a valid prime-order group element") from exc


def montgomery_u(p: bytes) -> bytes:
    """The u-coordinate of prime-order point `p` on Curve25519, u = (1 + y) / (1 - y)
    (RFC 7748 s4.1): the form X25519 works on."""
    point_validate(p)
    try:
        return nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(p)
    except nacl.exceptions.CryptoError as exc:
        raise InvalidPoint("not a valid prime-order group element") from exc


def ephemeral_key_agreement_x25519(public_u: bytes) -> tuple[bytes, bytes]:
    """(R, u(rP)) for a fresh r, where R = rG and `public_u` = u(P): the KEM half of
    envelope version 3. r never leaves this function.

    r is clamped as X25519 clamps it (RFC 7748 s5), for both products, so with P = xG
    the custodians' xR is rxG = rP and `montgomery_u(xR)` is the same secret. X25519 on
    the stored u(P) skips what `ephemeral_key_agreement` pays on every call: libsodium's
    Edwards scalar multiplication re-proves P is in the prime-order subgroup (a second
    multiplication), where X25519 only refuses a small-order u. P was validated when its
    u was taken.
    """
    return _key_agreement_x25519(os.urandom(SCALAR_BYTES), public_u)


def _key_agreement_x25519(r: bytes, public_u: bytes) -> tuple[bytes, bytes]:
    try:
        return (
            nacl.bindings.crypto_scalarmult_ed25519_base(r),  # clamps r as X25519 does
            nacl.bindings.crypto_scalarmult(r, public_u),  # X25519
        )
    except nacl.exceptions.CryptoError as exc:
        raise InvalidPoint("a small-order public u-coordinate") from exc


def _check_point_length(p: bytes) -> None:
    if not isinstance(p, bytes) or len(p) != POINT_BYTES:
        raise InvalidPoint("point must be 32 bytes")


def point_add(p: bytes, q: bytes) -> bytes:
    """P + Q for already validated points (the result may be the identity)."""
    _check_point_length(p)
    _check_point_length(q)
    try:
        return nacl.bindings.crypto_core_ed25519_add(p, q)
    except nacl.exceptions.CryptoError as exc:
        raise InvalidPoint("point is not on the curve") from exc


def point_sub(p: bytes, q: bytes) -> bytes:
    """P - Q for already validated points (the result may be the identity)."""
    _check_point_length(p)
    _check_point_length(q)
    try:
        return nacl.bindings.crypto_core_ed25519_sub(p, q)
    except nacl.exceptions.CryptoError as exc:
        raise InvalidPoint("point is not on the curve") from exc


def hash_to_scalar(*, domain: bytes, parts: Sequence[bytes]) -> bytes:
    """SHA-512 over the domain and each part, each prefixed by its 4-byte big-endian
    length, reduced modulo L (the RFC 8032 way of turning a hash into a scalar).

    The length prefixes make the framing injective, so two different transcripts can
    never hash the same input; the domain keeps challenges of different proofs apart.
    """
    if not domain:
        raise InvalidDomain("a domain separator is required")
    digest = hashes.Hash(hashes.SHA512())
    for part in (domain, *parts):
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return _scalar_reduce_wide(digest.finalize())
