"""The threshold escrow key: Shamir sharing over the group order with Feldman commitments.

A ceremony draws a random polynomial f of degree k-1 over Z_L, publishes
X = f(0)G, the commitments C_j = a_j G (so C_0 = X) and each custodian's
verification key X_i = f(i)G, and hands custodian i the share x_i = f(i). Any k
shares determine f(0) = x; fewer reveal nothing about it (Shamir, 1979), and the
commitments let each custodian check their share offline (Feldman, 1987) without
trusting the machine that ran the ceremony.

x itself is never returned and never rebuilt: releases combine x_i R in the
exponent (see release.py). CPython cannot zeroise immutable bytes, so the ceremony
drops every reference to x and the coefficients as soon as the shares exist; run it
on an offline machine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from cryptography.hazmat.primitives import hashes

from escrow.crypto import group
from escrow.crypto.errors import CryptoError
from escrow.crypto.kdf import context_info

PUBLIC_KEY_FORMAT = "identity-escrow-public-key/1"
MAX_CUSTODIANS = 255
MAX_EPOCH = 2**32 - 1

_HEX_POINT = re.compile(r"[0-9a-f]{64}")


class ThresholdParameterError(CryptoError):
    """A threshold, custodian count, epoch or index set is out of range or inconsistent."""


class InvalidPublicKey(CryptoError):
    """A published escrow key is malformed, has an invalid point, or is not self-consistent."""


class InvalidShare(CryptoError):
    """A custodian share is malformed (index, epoch or scalar encoding)."""


class ShareVerificationError(CryptoError):
    """A share does not match the published commitments and verification key."""


def _is_int(value: object) -> bool:
    # bool is an int subclass; a JSON `true` must not pass as epoch 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _epoch_ok(epoch: object) -> bool:
    return isinstance(epoch, int) and not isinstance(epoch, bool) and 0 <= epoch <= MAX_EPOCH


def _index_ok(index: object) -> bool:
    return isinstance(index, int) and not isinstance(index, bool) and 1 <= index <= MAX_CUSTODIANS


def _feldman_evaluate(commitments: Sequence[bytes], index: int) -> bytes:
    """sum_j C_j * i^j, by Horner's rule in the exponent."""
    i = group.scalar_from_int(index)
    acc = commitments[-1]
    for commitment in reversed(commitments[:-1]):
        acc = group.point_add(group.point_mul(acc, i), commitment)
    return acc


@dataclass(frozen=True)
class EscrowPublicKey:
    """Everything public from one ceremony. Constructing one checks it completely."""

    epoch: int
    threshold: int
    public_point: bytes
    commitments: tuple[bytes, ...]
    verification_keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not _epoch_ok(self.epoch):
            raise InvalidPublicKey("epoch out of range")
        if not isinstance(self.commitments, tuple) or not isinstance(self.verification_keys, tuple):
            raise InvalidPublicKey("commitments and verification keys must be tuples")
        n = len(self.verification_keys)
        if not _is_int(self.threshold) or not 1 <= self.threshold <= n <= MAX_CUSTODIANS:
            raise InvalidPublicKey("threshold must satisfy 1 <= k <= n <= 255")
        if len(self.commitments) != self.threshold:
            raise InvalidPublicKey("there must be exactly k commitments")
        try:
            for point in (self.public_point, *self.commitments, *self.verification_keys):
                group.point_validate(point)
        except group.InvalidPoint as exc:
            raise InvalidPublicKey("public key contains an invalid point") from exc
        if self.commitments[0] != self.public_point:
            raise InvalidPublicKey("public point differs from the constant-term commitment")
        for index, verification_key in enumerate(self.verification_keys, start=1):
            try:
                expected = _feldman_evaluate(self.commitments, index)
            except group.InvalidPoint as exc:
                # Crafted commitments can cancel to the identity part-way through Horner.
                raise InvalidPublicKey("commitments cancel out") from exc
            if expected != verification_key:
                raise InvalidPublicKey("verification key does not match the commitments")

    @property
    def custodians(self) -> int:
        return len(self.verification_keys)

    @cached_property
    def public_u(self) -> bytes:
        """X's u-coordinate on Curve25519, which envelope version 3 seals to by X25519;
        taken once per key (it costs a scalar multiplication)."""
        return group.montgomery_u(self.public_point)

    def canonical_bytes(self) -> bytes:
        """A fixed, length-prefixed encoding: the input of `fingerprint`."""
        return context_info(
            "public-key",
            self.epoch.to_bytes(4, "big"),
            self.threshold.to_bytes(4, "big"),
            self.custodians.to_bytes(4, "big"),
            self.public_point,
            *self.commitments,
            *self.verification_keys,
        )

    def fingerprint(self) -> bytes:
        """SHA-256 of `canonical_bytes`: what custodians compare out of band."""
        digest = hashes.Hash(hashes.SHA256())
        digest.update(self.canonical_bytes())
        return digest.finalize()

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PUBLIC_KEY_FORMAT,
            "epoch": self.epoch,
            "threshold": self.threshold,
            "custodians": self.custodians,
            "public_point": self.public_point.hex(),
            "commitments": [c.hex() for c in self.commitments],
            "verification_keys": [v.hex() for v in self.verification_keys],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EscrowPublicKey:
        """Parse strictly: exact keys, lower-case hex, and every invariant re-checked."""
        expected = {
            "format",
            "epoch",
            "threshold",
            "custodians",
            "public_point",
            "commitments",
            "verification_keys",
        }
        if not isinstance(data, dict) or set(data) != expected:
            raise InvalidPublicKey("unexpected public key fields")
        if data["format"] != PUBLIC_KEY_FORMAT:
            raise InvalidPublicKey("unknown public key format")
        for name in ("epoch", "threshold", "custodians"):
            if not _is_int(data[name]):
                raise InvalidPublicKey(f"{name} must be an integer")
        commitments = _points_from_hex(data["commitments"])
        verification_keys = _points_from_hex(data["verification_keys"])
        if len(verification_keys) != data["custodians"]:
            raise InvalidPublicKey("verification key count differs from custodian count")
        return cls(
            epoch=data["epoch"],
            threshold=data["threshold"],
            public_point=_point_from_hex(data["public_point"]),
            commitments=commitments,
            verification_keys=verification_keys,
        )


def _point_from_hex(value: object) -> bytes:
    if not isinstance(value, str) or not _HEX_POINT.fullmatch(value):
        raise InvalidPublicKey("points must be 64 lower-case hex digits")
    return bytes.fromhex(value)


def _points_from_hex(values: object) -> tuple[bytes, ...]:
    if not isinstance(values, list) or len(values) > MAX_CUSTODIANS:
        raise InvalidPublicKey("expected a list of at most 255 points")
    return tuple(_point_from_hex(v) for v in values)


@dataclass(frozen=True)
class CustodianShare:
    """Custodian `index`'s Shamir share x_i = f(i) for key `epoch`.

    The scalar is excluded from repr so that it never lands in a log line or a
    traceback's locals.
    """

    epoch: int
    index: int
    scalar: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _epoch_ok(self.epoch):
            raise InvalidShare("epoch out of range")
        if not _index_ok(self.index):
            raise InvalidShare("index must be between 1 and 255")
        try:
            group.scalar_validate(self.scalar)
        except group.InvalidScalar as exc:
            raise InvalidShare("share scalar is not a canonical non-zero scalar") from exc


def _check_ceremony_parameters(*, threshold: int, custodians: int, epoch: int) -> None:
    if not _is_int(threshold) or not _is_int(custodians):
        raise ThresholdParameterError("threshold and custodian count must be integers")
    if not 1 <= threshold <= custodians <= MAX_CUSTODIANS:
        raise ThresholdParameterError("threshold must satisfy 1 <= k <= n <= 255")
    if not _epoch_ok(epoch):
        raise ThresholdParameterError("epoch must be between 0 and 2**32 - 1")


def _polynomial_evaluate(coefficients: Sequence[bytes], index: int) -> bytes:
    i = group.scalar_from_int(index)
    acc = coefficients[-1]
    for coefficient in reversed(coefficients[:-1]):
        acc = group.scalar_add(group.scalar_mul(acc, i), coefficient)
    return acc


def ceremony_run(
    *, threshold: int, custodians: int, epoch: int
) -> tuple[EscrowPublicKey, list[CustodianShare]]:
    """Create a fresh k-of-n escrow key; return its public key and the n shares.

    Every coefficient is non-zero (so every commitment is a valid, non-identity
    point) and a polynomial that happens to vanish at some index is redrawn, since a
    zero share would publish the identity as that custodian's verification key.
    """
    _check_ceremony_parameters(threshold=threshold, custodians=custodians, epoch=epoch)
    indexes = range(1, custodians + 1)
    while True:
        coefficients = [group.scalar_random() for _ in range(threshold)]
        scalars = [_polynomial_evaluate(coefficients, i) for i in indexes]
        if all(s != bytes(group.SCALAR_BYTES) for s in scalars):
            break
    commitments = tuple(group.point_base_mul(a) for a in coefficients)
    # The coefficients include the secret x = a_0; drop them before anything else runs.
    del coefficients
    shares = [
        CustodianShare(epoch=epoch, index=i, scalar=s)
        for i, s in zip(indexes, scalars, strict=True)
    ]
    # The constructor re-derives every X_i from the commitments, so a bug in the
    # sharing above cannot produce a key whose shares fail their own Feldman check.
    public_key = EscrowPublicKey(
        epoch=epoch,
        threshold=threshold,
        public_point=commitments[0],
        commitments=commitments,
        verification_keys=tuple(group.point_base_mul(s) for s in scalars),
    )
    return public_key, shares


def share_verify(*, share: CustodianShare, public_key: EscrowPublicKey) -> None:
    """Feldman's check: x_i G == sum_j C_j i^j == X_i, for the key's epoch."""
    if share.epoch != public_key.epoch:
        raise ShareVerificationError("share belongs to another key epoch")
    if share.index > public_key.custodians:
        raise ShareVerificationError("share index exceeds the custodian count")
    public_share = group.point_base_mul(share.scalar)
    if public_share != _feldman_evaluate(public_key.commitments, share.index):
        raise ShareVerificationError("share does not match the Feldman commitments")
    if public_share != public_key.verification_keys[share.index - 1]:
        raise ShareVerificationError("share does not match its verification key")


def lagrange_coefficient(*, index: int, indexes: Sequence[int]) -> bytes:
    """lambda_i = prod_{j != i} j / (j - i) mod L: the weight of f(i) in f(0).

    Numerator and denominator are accumulated separately so that only one modular
    inversion (the expensive libsodium call) is needed per coefficient.
    """
    if not all(_index_ok(j) for j in indexes) or len(set(indexes)) != len(indexes):
        raise ThresholdParameterError("indexes must be distinct integers in 1..255")
    if not _index_ok(index) or index not in indexes:
        raise ThresholdParameterError("index must be one of the indexes")
    i = group.scalar_from_int(index)
    numerator = group.scalar_from_int(1)
    denominator = group.scalar_from_int(1)
    for other in indexes:
        if other == index:
            continue
        j = group.scalar_from_int(other)
        numerator = group.scalar_mul(numerator, j)
        denominator = group.scalar_mul(denominator, group.scalar_sub(j, i))
    return group.scalar_mul(numerator, group.scalar_invert(denominator))
