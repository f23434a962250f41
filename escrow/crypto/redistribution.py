"""Proactive share redistribution: hand the escrow key to new custodians without rebuilding it.

Any k current custodians (the dealers) agree on their index set D. Dealer i holds
x_i = f(i), so x = sum_{i in D} lambda_i x_i. Each dealer deals a fresh Feldman
sharing g_i of degree k'-1 with g_i(0) = lambda_i x_i to the n' new custodians and
publishes the commitments E_{i,m} = b_{i,m} G. New custodian j checks every
sub-share g_i(j) against E_i, and checks E_{i,0} = lambda_i X_i, so that a dealer
cannot deal any value other than its own weighted share. Its new share is
x'_j = sum_i g_i(j), a point on g = sum_i g_i with g(0) = x: the escrow public key
is unchanged and x never exists anywhere (Herzberg et al., 1995; Desmedt and
Jajodia, 1997).

The old shares still lie on f. Redistribution cannot make them useless: k old
custodians who kept theirs can still decrypt. Departing custodians must destroy them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography.hazmat.primitives import hashes

from escrow.crypto import group
from escrow.crypto.errors import CryptoError
from escrow.crypto.threshold import (
    MAX_CUSTODIANS,
    CustodianShare,
    EscrowPublicKey,
    InvalidPublicKey,
    ThresholdParameterError,
    _check_ceremony_parameters,
    _feldman_evaluate,
    _polynomial_evaluate,
    lagrange_coefficient,
    share_verify,
)

# Versioned magic strings: a parser for version 1 refuses anything else outright.
DEALING_MAGIC = b"identity-escrow/redistribution-dealing/1\n"
SUB_SHARE_MAGIC = b"identity-escrow/redistribution-sub-share/1\n"
_DIGEST_BYTES = 32

DealingRejection = Literal[
    "old key", "dealer set", "parameters", "weighted share", "sub-share", "duplicate", "missing"
]


class RedistributionError(CryptoError):
    """Dealings or sub-shares are malformed, inconsistent, or do not form a usable key."""


class DealingVerificationError(RedistributionError):
    """One dealer's dealing or sub-share failed verification; names the dealer."""

    def __init__(self, *, dealer_index: int, reason: DealingRejection) -> None:
        super().__init__(f"dealing from custodian {dealer_index} rejected: {reason}")
        self.dealer_index = dealer_index
        self.reason = reason


def _digest(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


class _Reader:
    """Strict cursor over a message: every read is bounded, trailing bytes are refused."""

    def __init__(self, data: bytes, magic: bytes) -> None:
        if not isinstance(data, bytes) or not data.startswith(magic):
            raise RedistributionError("unknown message format or version")
        self._data = data
        self._offset = len(magic)

    def take(self, size: int) -> bytes:
        end = self._offset + size
        if end > len(self._data):
            raise RedistributionError("message is truncated")
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def finish(self) -> None:
        if self._offset != len(self._data):
            raise RedistributionError("message has trailing bytes")


@dataclass(frozen=True)
class Dealing:
    """The public half of one dealer's sharing: published to every new custodian."""

    epoch: int
    old_key_fingerprint: bytes
    dealer_index: int
    dealers: tuple[int, ...]
    new_threshold: int
    new_custodians: int
    commitments: tuple[bytes, ...]

    def __post_init__(self) -> None:
        try:
            _check_ceremony_parameters(
                threshold=self.new_threshold, custodians=self.new_custodians, epoch=self.epoch
            )
            lagrange_coefficient(index=self.dealer_index, indexes=self.dealers)
        except ThresholdParameterError as exc:
            raise RedistributionError(f"dealing parameters: {exc}") from exc
        if list(self.dealers) != sorted(self.dealers):
            raise RedistributionError("the dealer set must be listed in ascending order")
        if len(self.old_key_fingerprint) != _DIGEST_BYTES:
            raise RedistributionError("old key fingerprint must be 32 bytes")
        if len(self.commitments) != self.new_threshold:
            raise RedistributionError("a dealing carries exactly k' commitments")
        try:
            for point in self.commitments:
                group.point_validate(point)
        except group.InvalidPoint as exc:
            raise RedistributionError("dealing contains an invalid point") from exc

    def to_bytes(self) -> bytes:
        """Canonical encoding: magic, then fixed-width big-endian fields, then points."""
        return b"".join(
            [
                DEALING_MAGIC,
                _u32(self.epoch),
                self.old_key_fingerprint,
                _u32(self.dealer_index),
                _u32(len(self.dealers)),
                *(_u32(i) for i in self.dealers),
                _u32(self.new_threshold),
                _u32(self.new_custodians),
                *self.commitments,
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Dealing:
        reader = _Reader(data, DEALING_MAGIC)
        epoch = reader.u32()
        fingerprint = reader.take(_DIGEST_BYTES)
        dealer_index = reader.u32()
        count = reader.u32()
        if count > MAX_CUSTODIANS:
            raise RedistributionError("too many dealers")
        dealers = tuple(reader.u32() for _ in range(count))
        new_threshold = reader.u32()
        new_custodians = reader.u32()
        if new_threshold > MAX_CUSTODIANS:
            raise RedistributionError("new threshold out of range")
        commitments = tuple(reader.take(group.POINT_BYTES) for _ in range(new_threshold))
        reader.finish()
        return cls(
            epoch=epoch,
            old_key_fingerprint=fingerprint,
            dealer_index=dealer_index,
            dealers=dealers,
            new_threshold=new_threshold,
            new_custodians=new_custodians,
            commitments=commitments,
        )

    def digest(self) -> bytes:
        return _digest(self.to_bytes())


@dataclass(frozen=True)
class SubShare:
    """g_i(j): the secret half, for new custodian `recipient_index` only; seal it in transit.

    It names the digest of its dealing so that it cannot be replayed against another.
    """

    dealing_digest: bytes
    dealer_index: int
    recipient_index: int
    scalar: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.dealing_digest) != _DIGEST_BYTES:
            raise RedistributionError("dealing digest must be 32 bytes")
        if not all(1 <= i <= MAX_CUSTODIANS for i in (self.dealer_index, self.recipient_index)):
            raise RedistributionError("custodian indexes must be between 1 and 255")
        try:
            group.scalar_validate(self.scalar)
        except group.InvalidScalar as exc:
            raise RedistributionError("sub-share is not a canonical non-zero scalar") from exc

    def to_bytes(self) -> bytes:
        return b"".join(
            [
                SUB_SHARE_MAGIC,
                self.dealing_digest,
                _u32(self.dealer_index),
                _u32(self.recipient_index),
                self.scalar,
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SubShare:
        reader = _Reader(data, SUB_SHARE_MAGIC)
        digest = reader.take(_DIGEST_BYTES)
        dealer_index = reader.u32()
        recipient_index = reader.u32()
        scalar = reader.take(group.SCALAR_BYTES)
        reader.finish()
        return cls(
            dealing_digest=digest,
            dealer_index=dealer_index,
            recipient_index=recipient_index,
            scalar=scalar,
        )


def redistribution_deal(
    *,
    share: CustodianShare,
    public_key: EscrowPublicKey,
    dealers: Sequence[int],
    new_threshold: int,
    new_custodians: int,
) -> tuple[Dealing, list[SubShare]]:
    """Deal lambda_i x_i to n' new custodians with threshold k'; run on the dealer's machine."""
    share_verify(share=share, public_key=public_key)
    ordered = tuple(sorted(dealers))
    if len(ordered) != public_key.threshold:
        raise ThresholdParameterError("exactly k current custodians must deal")
    weight = lagrange_coefficient(index=share.index, indexes=ordered)
    _check_ceremony_parameters(
        threshold=new_threshold, custodians=new_custodians, epoch=public_key.epoch
    )
    # lambda_i and x_i are non-zero and L is prime, so the constant term is non-zero.
    constant = group.scalar_mul(weight, share.scalar)
    while True:
        coefficients = [constant, *(group.scalar_random() for _ in range(new_threshold - 1))]
        scalars = [_polynomial_evaluate(coefficients, j) for j in range(1, new_custodians + 1)]
        if all(s != bytes(group.SCALAR_BYTES) for s in scalars):
            break
    dealing = Dealing(
        epoch=public_key.epoch,
        old_key_fingerprint=public_key.fingerprint(),
        dealer_index=share.index,
        dealers=ordered,
        new_threshold=new_threshold,
        new_custodians=new_custodians,
        commitments=tuple(group.point_base_mul(b) for b in coefficients),
    )
    del coefficients, constant
    digest = dealing.digest()
    sub_shares = [
        SubShare(dealing_digest=digest, dealer_index=share.index, recipient_index=j, scalar=s)
        for j, s in enumerate(scalars, start=1)
    ]
    return dealing, sub_shares


def _dealing_fault(
    dealing: Dealing, *, first: Dealing, old_public_key: EscrowPublicKey, fingerprint: bytes
) -> DealingRejection | None:
    """Why this dealing cannot be part of the round, or None."""
    if dealing.old_key_fingerprint != fingerprint:
        return "old key"
    if dealing.epoch != old_public_key.epoch or dealing.dealers != first.dealers:
        return "dealer set"
    if len(dealing.dealers) != old_public_key.threshold:
        return "dealer set"
    if dealing.dealer_index > old_public_key.custodians:
        return "dealer set"
    if (dealing.new_threshold, dealing.new_custodians) != (
        first.new_threshold,
        first.new_custodians,
    ):
        return "parameters"
    # E_i0 = lambda_i X_i: the dealer shares exactly its own weighted share.
    weight = lagrange_coefficient(index=dealing.dealer_index, indexes=dealing.dealers)
    verification_key = old_public_key.verification_keys[dealing.dealer_index - 1]
    if dealing.commitments[0] != group.point_mul(verification_key, weight):
        return "weighted share"
    return None


def _check_dealings(*, old_public_key: EscrowPublicKey, dealings: Sequence[Dealing]) -> None:
    """Every dealing is for this key, from the agreed set, and deals its dealer's own share."""
    if not dealings:
        raise RedistributionError("no dealings")
    first = dealings[0]
    fingerprint = old_public_key.fingerprint()
    seen: set[int] = set()
    for dealing in dealings:
        fault = (
            "duplicate"
            if dealing.dealer_index in seen
            else _dealing_fault(
                dealing, first=first, old_public_key=old_public_key, fingerprint=fingerprint
            )
        )
        if fault is not None:
            raise DealingVerificationError(dealer_index=dealing.dealer_index, reason=fault)
        seen.add(dealing.dealer_index)
    for index in first.dealers:
        if index not in seen:
            raise DealingVerificationError(dealer_index=index, reason="missing")


def redistribution_public_key(
    *, old_public_key: EscrowPublicKey, dealings: Sequence[Dealing]
) -> EscrowPublicKey:
    """The new key from public dealings alone: what the service records and custodians compare.

    Commitments are summed coefficient-wise; the constant terms sum to the old public
    point because each was checked to be lambda_i X_i.
    """
    _check_dealings(old_public_key=old_public_key, dealings=dealings)
    ordered = sorted(dealings, key=lambda d: d.dealer_index)
    commitments = list(ordered[0].commitments)
    try:
        for dealing in ordered[1:]:
            commitments = [
                group.point_add(a, b) for a, b in zip(commitments, dealing.commitments, strict=True)
            ]
        verification_keys = tuple(
            _feldman_evaluate(commitments, j) for j in range(1, ordered[0].new_custodians + 1)
        )
        return EscrowPublicKey(
            epoch=old_public_key.epoch,
            threshold=ordered[0].new_threshold,
            public_point=old_public_key.public_point,
            commitments=tuple(commitments),
            verification_keys=verification_keys,
        )
    except (group.InvalidPoint, InvalidPublicKey) as exc:
        # Only reachable if dealers' random coefficients cancel: deal again.
        raise RedistributionError("the dealings do not form a usable key; deal again") from exc


def redistribution_accept(
    *,
    old_public_key: EscrowPublicKey,
    dealings: Sequence[Dealing],
    sub_shares: Sequence[SubShare],
    recipient_index: int,
) -> tuple[EscrowPublicKey, CustodianShare]:
    """Verify every dealing and sub-share for new custodian j, then sum them into x'_j."""
    new_public_key = redistribution_public_key(old_public_key=old_public_key, dealings=dealings)
    if not 1 <= recipient_index <= new_public_key.custodians:
        raise RedistributionError("recipient index outside the new custodian set")
    received = {s.dealer_index: s for s in sub_shares}
    if len(received) != len(sub_shares) or set(received) != {d.dealer_index for d in dealings}:
        raise RedistributionError("expected exactly one sub-share from each dealer")
    total = bytes(group.SCALAR_BYTES)
    for dealing in dealings:
        sub_share = received[dealing.dealer_index]
        if (
            sub_share.recipient_index != recipient_index
            or sub_share.dealing_digest != dealing.digest()
            or group.point_base_mul(sub_share.scalar)
            != _feldman_evaluate(dealing.commitments, recipient_index)
        ):
            raise DealingVerificationError(dealer_index=dealing.dealer_index, reason="sub-share")
        total = group.scalar_add(total, sub_share.scalar)
    share = CustodianShare(epoch=new_public_key.epoch, index=recipient_index, scalar=total)
    # Redundant with the checks above, but it is the check every later release relies on.
    share_verify(share=share, public_key=new_public_key)
    return new_public_key, share
