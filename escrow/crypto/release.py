"""Threshold release: custodian partial decryptions with Chaum-Pedersen (DLEQ) proofs.

Custodian i answers a release with D_ij = x_i R_j for each approved field's point R_j,
and proves log_G(X_i) == log_{R_j}(D_ij) without revealing x_i (Chaum and Pedersen,
CRYPTO '92), made non-interactive with Fiat-Shamir. The challenge hashes the release
context (request id and the log index of the approval), so a partial given for one
request cannot be replayed for another, and the epoch and custodian index, so it cannot
be passed off under another key or custodian.

The server verifies every partial, then combines any k valid ones with Lagrange
coefficients in the exponent: sum_i lambda_i D_ij = x R_j. The secret x is never
formed. The exact transcript is documented in docs/crypto.md.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from escrow.crypto import group
from escrow.crypto.errors import CryptoError
from escrow.crypto.kdf import DOMAIN_PREFIX, context_info
from escrow.crypto.threshold import (
    MAX_CUSTODIANS,
    MAX_EPOCH,
    CustodianShare,
    EscrowPublicKey,
    lagrange_coefficient,
    share_verify,
)

PARTIAL_FORMAT = "identity-escrow-partial/1"
# A release names a handful of fields per pseudonym; the cap bounds work done on a
# hostile upload before any proof is checked.
MAX_POINTS = 4096
MAX_LOG_INDEX = 2**64 - 1

DLEQ_CHALLENGE_DOMAIN = DOMAIN_PREFIX + b"dleq-challenge"
DLEQ_NONCE_DOMAIN = DOMAIN_PREFIX + b"dleq-nonce"

_HEX_POINT = re.compile(r"[0-9a-f]{64}")
_HEX_PROOF = re.compile(r"[0-9a-f]{128}")

RejectionReason = Literal["epoch", "unknown custodian", "point count", "invalid point", "proof"]


class ReleaseParameterError(CryptoError):
    """A release was asked for with no points, an empty context or a bad request id."""


class PartialFormatError(CryptoError):
    """A partial decryption or proof is structurally malformed."""


class PartialProofError(CryptoError):
    """A custodian's partial decryption failed verification.

    `custodian_index` says whose partial it was, so the server can record and chase it;
    `reason` is one of a fixed set of strings and never carries proof or share bytes.
    """

    def __init__(self, *, custodian_index: int, reason: RejectionReason) -> None:
        super().__init__(f"partial from custodian {custodian_index} rejected: {reason}")
        self.custodian_index = custodian_index
        self.reason = reason


class NotEnoughPartials(CryptoError):
    """Fewer than k partials survived verification; `bad_indexes` lists the rejected ones."""

    def __init__(
        self, *, threshold: int, valid_indexes: tuple[int, ...], bad_indexes: tuple[int, ...]
    ) -> None:
        super().__init__(
            f"{len(valid_indexes)} valid partials, {threshold} needed; "
            f"rejected custodians: {list(bad_indexes)}"
        )
        self.threshold = threshold
        self.valid_indexes = valid_indexes
        self.bad_indexes = bad_indexes


def release_context(*, request_id: str, approval_log_index: int) -> bytes:
    """The Fiat-Shamir context of one release: the request and its logged approval."""
    if not isinstance(request_id, str) or not request_id:
        raise ReleaseParameterError("request id must be non-empty text")
    index = approval_log_index
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_LOG_INDEX:
        raise ReleaseParameterError("approval log index must be a uint64")
    return context_info("release", request_id, index.to_bytes(8, "big"))


@dataclass(frozen=True)
class DleqProof:
    """A Chaum-Pedersen proof (c, s) with s = w + c x_i; both canonical scalars."""

    c: bytes
    s: bytes

    def __post_init__(self) -> None:
        try:
            group.scalar_validate(self.c, nonzero=False)
            group.scalar_validate(self.s, nonzero=False)
        except group.InvalidScalar as exc:
            raise PartialFormatError("proof scalars must be canonical") from exc

    def to_bytes(self) -> bytes:
        return self.c + self.s

    @classmethod
    def from_bytes(cls, raw: bytes) -> DleqProof:
        if not isinstance(raw, bytes) or len(raw) != 2 * group.SCALAR_BYTES:
            raise PartialFormatError("a proof is 64 bytes")
        return cls(c=raw[: group.SCALAR_BYTES], s=raw[group.SCALAR_BYTES :])


def _int_in(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


@dataclass(frozen=True)
class PartialDecryption:
    """Custodian `custodian_index`'s answer: one D_ij and one proof per requested point.

    Only the structure is checked here; whether the points are valid and the proofs
    hold is `partial_verify`'s job, so that a bad partial is blamed on its custodian.
    """

    custodian_index: int
    epoch: int
    shares: tuple[bytes, ...]
    proofs: tuple[DleqProof, ...]

    def __post_init__(self) -> None:
        if not _int_in(self.custodian_index, 1, MAX_CUSTODIANS):
            raise PartialFormatError("custodian index must be between 1 and 255")
        if not _int_in(self.epoch, 0, MAX_EPOCH):
            raise PartialFormatError("epoch out of range")
        if not isinstance(self.shares, tuple) or not isinstance(self.proofs, tuple):
            raise PartialFormatError("shares and proofs must be tuples")
        if not 1 <= len(self.shares) <= MAX_POINTS or len(self.proofs) != len(self.shares):
            raise PartialFormatError("need one proof per share, and at least one share")
        for share in self.shares:
            if not isinstance(share, bytes) or len(share) != group.POINT_BYTES:
                raise PartialFormatError("shares must be 32-byte points")
        if not all(isinstance(proof, DleqProof) for proof in self.proofs):
            raise PartialFormatError("proofs must be DleqProof")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PARTIAL_FORMAT,
            "custodian_index": self.custodian_index,
            "epoch": self.epoch,
            "shares": [share.hex() for share in self.shares],
            "proofs": [proof.to_bytes().hex() for proof in self.proofs],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartialDecryption:
        expected = {"format", "custodian_index", "epoch", "shares", "proofs"}
        if not isinstance(data, dict) or set(data) != expected:
            raise PartialFormatError("unexpected partial fields")
        if data["format"] != PARTIAL_FORMAT:
            raise PartialFormatError("unknown partial format")
        shares, proofs = data["shares"], data["proofs"]
        if not isinstance(shares, list) or not isinstance(proofs, list):
            raise PartialFormatError("shares and proofs must be lists")
        if len(shares) > MAX_POINTS or len(proofs) > MAX_POINTS:
            raise PartialFormatError("too many points")
        if not all(isinstance(v, str) and _HEX_POINT.fullmatch(v) for v in shares):
            raise PartialFormatError("shares must be 64 lower-case hex digits")
        if not all(isinstance(v, str) and _HEX_PROOF.fullmatch(v) for v in proofs):
            raise PartialFormatError("proofs must be 128 lower-case hex digits")
        return cls(
            custodian_index=data["custodian_index"],
            epoch=data["epoch"],
            shares=tuple(bytes.fromhex(v) for v in shares),
            proofs=tuple(DleqProof.from_bytes(bytes.fromhex(v)) for v in proofs),
        )


def _challenge(
    *,
    context: bytes,
    epoch: int,
    index: int,
    verification_key: bytes,
    point: bytes,
    share: bytes,
    commitment_g: bytes,
    commitment_r: bytes,
) -> bytes:
    return group.hash_to_scalar(
        domain=DLEQ_CHALLENGE_DOMAIN,
        parts=[
            context,
            epoch.to_bytes(4, "big"),
            index.to_bytes(4, "big"),
            group.BASE_POINT,
            verification_key,
            point,
            share,
            commitment_g,
            commitment_r,
        ],
    )


def _check_release_inputs(points: Sequence[bytes], context: bytes) -> None:
    if not isinstance(context, bytes) or not context:
        raise ReleaseParameterError("a release context is required")
    if not 1 <= len(points) <= MAX_POINTS:
        raise ReleaseParameterError("a release names between 1 and 4096 points")


def partial_decrypt(
    *,
    share: CustodianShare,
    public_key: EscrowPublicKey,
    points: Sequence[bytes],
    context: bytes,
) -> PartialDecryption:
    """x_i R_j with a DLEQ proof for every point; run by the custodian's tool."""
    _check_release_inputs(points, context)
    # A share that does not match X_i would only produce proofs the server rejects;
    # failing here tells the custodian their file is wrong rather than the server.
    share_verify(share=share, public_key=public_key)
    for point in points:
        # Multiplying a small-order or torsion point by x_i would leak x_i mod 8.
        group.point_validate(point)
    verification_key = public_key.verification_keys[share.index - 1]
    shares: list[bytes] = []
    proofs: list[DleqProof] = []
    for point in points:
        d = group.point_mul(point, share.scalar)
        while True:
            # Hedged nonce (as in RFC 8032 plus randomness): the secret and transcript
            # keep w unique if the RNG fails, the randomness protects against fault
            # attacks on a deterministic nonce. A repeated w would reveal x_i.
            w = group.hash_to_scalar(
                domain=DLEQ_NONCE_DOMAIN,
                parts=[share.scalar, os.urandom(32), context, point, d],
            )
            if w == bytes(group.SCALAR_BYTES):
                continue
            c = _challenge(
                context=context,
                epoch=public_key.epoch,
                index=share.index,
                verification_key=verification_key,
                point=point,
                share=d,
                commitment_g=group.point_base_mul(w),
                commitment_r=group.point_mul(point, w),
            )
            s = group.scalar_add(w, group.scalar_mul(c, share.scalar))
            # c or s equal to zero cannot be verified (it would need the identity).
            if c != bytes(group.SCALAR_BYTES) and s != bytes(group.SCALAR_BYTES):
                break
        shares.append(d)
        proofs.append(DleqProof(c=c, s=s))
    return PartialDecryption(
        custodian_index=share.index,
        epoch=share.epoch,
        shares=tuple(shares),
        proofs=tuple(proofs),
    )


def _verify_partial(
    *,
    partial: PartialDecryption,
    public_key: EscrowPublicKey,
    points: Sequence[bytes],
    context: bytes,
) -> None:
    """partial_verify without re-validating `points`, which the caller has done."""
    index = partial.custodian_index

    def reject(reason: RejectionReason) -> PartialProofError:
        return PartialProofError(custodian_index=index, reason=reason)

    if partial.epoch != public_key.epoch:
        raise reject("epoch")
    if index > public_key.custodians:
        raise reject("unknown custodian")
    if len(partial.shares) != len(points):
        raise reject("point count")
    for share in partial.shares:
        if not group.point_is_valid(share):
            raise reject("invalid point")
    verification_key = public_key.verification_keys[index - 1]
    for point, share, proof in zip(points, partial.shares, partial.proofs, strict=True):
        try:
            # A = sG - cX_i and B = sR - cD equal wG and wR exactly when D = x_i R.
            commitment_g = group.point_sub(
                group.point_base_mul(proof.s), group.point_mul(verification_key, proof.c)
            )
            commitment_r = group.point_sub(
                group.point_mul(point, proof.s), group.point_mul(share, proof.c)
            )
        except CryptoError as exc:
            raise reject("proof") from exc
        expected = _challenge(
            context=context,
            epoch=partial.epoch,
            index=index,
            verification_key=verification_key,
            point=point,
            share=share,
            commitment_g=commitment_g,
            commitment_r=commitment_r,
        )
        if expected != proof.c:
            raise reject("proof")


def partial_verify(
    *,
    partial: PartialDecryption,
    public_key: EscrowPublicKey,
    points: Sequence[bytes],
    context: bytes,
) -> None:
    """Check a custodian's partial for these points and this release context."""
    _check_release_inputs(points, context)
    for point in points:
        group.point_validate(point)
    _verify_partial(partial=partial, public_key=public_key, points=points, context=context)


def partials_combine(
    *,
    partials: Sequence[PartialDecryption],
    public_key: EscrowPublicKey,
    points: Sequence[bytes],
    context: bytes,
) -> list[bytes]:
    """x R_j for every point, from any k verified partials.

    Every partial is verified so that all misbehaving custodians are reported, not only
    the first. A custodian index that appears twice is excluded entirely: the server
    should never hold two answers from one custodian, and counting one twice would let
    a single custodian stand in for two.
    """
    _check_release_inputs(points, context)
    for point in points:
        group.point_validate(point)
    occurrences = Counter(partial.custodian_index for partial in partials)
    bad = {index for index, count in occurrences.items() if count > 1}
    valid: dict[int, PartialDecryption] = {}
    for partial in partials:
        if partial.custodian_index in bad:
            continue
        try:
            _verify_partial(partial=partial, public_key=public_key, points=points, context=context)
        except PartialProofError:
            bad.add(partial.custodian_index)
        else:
            valid[partial.custodian_index] = partial
    if len(valid) < public_key.threshold:
        raise NotEnoughPartials(
            threshold=public_key.threshold,
            valid_indexes=tuple(sorted(valid)),
            bad_indexes=tuple(sorted(bad)),
        )
    chosen = sorted(valid)[: public_key.threshold]
    coefficients = [lagrange_coefficient(index=i, indexes=chosen) for i in chosen]
    combined: list[bytes] = []
    for j in range(len(points)):
        terms = [
            group.point_mul(valid[i].shares[j], coefficient)
            for i, coefficient in zip(chosen, coefficients, strict=True)
        ]
        total = terms[0]
        for term in terms[1:]:
            total = group.point_add(total, term)
        combined.append(total)
    return combined
