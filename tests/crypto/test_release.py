"""Custodian partial decryptions with DLEQ proofs, and their threshold combination.

The story: an approved request `req_7` (its approval is log entry 1041) names three
identity fields; custodians of a 3-of-5 escrow key each return x_i R_j with proofs,
and the server combines any three valid partials into x R_j to open the fields.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto import group, release
from escrow.crypto.envelope import (
    FieldContext,
    FieldDecryptionError,
    SealedField,
    field_open,
    field_seal,
)
from escrow.crypto.errors import CryptoError
from escrow.crypto.release import (
    DleqProof,
    NotEnoughPartials,
    PartialDecryption,
    PartialFormatError,
    PartialProofError,
    ReleaseParameterError,
    partial_decrypt,
    partial_verify,
    partials_combine,
    release_context,
)
from escrow.crypto.threshold import (
    CustodianShare,
    EscrowPublicKey,
    ShareVerificationError,
    ceremony_run,
    lagrange_coefficient,
)

SMALL_ORDER = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
IDENTITY = {
    "legal_name": b"Ada Augusta King",
    "date_of_birth": b"1815-12-10",
    "email": b"ada@example.org",
}
CONTEXT = release_context(request_id="req_7", approval_log_index=1041)


@cache
def ceremony(k: int, n: int, epoch: int = 1) -> tuple[EscrowPublicKey, tuple[CustodianShare, ...]]:
    public_key, shares = ceremony_run(threshold=k, custodians=n, epoch=epoch)
    return public_key, tuple(shares)


def field_context(name: str, epoch: int = 1) -> FieldContext:
    return FieldContext(record_id="enr_ada", platform_id="plt_forum", field_name=name, epoch=epoch)


@cache
def enrolment(k: int = 3, n: int = 5) -> tuple[tuple[str, SealedField], ...]:
    public_key, _ = ceremony(k, n)
    return tuple(
        (name, field_seal(public_key=public_key, context=field_context(name), plaintext=value))
        for name, value in IDENTITY.items()
    )


def points(k: int = 3, n: int = 5) -> list[bytes]:
    return [sealed.ephemeral_point for _, sealed in enrolment(k, n)]


@cache
def partial(index: int, context: bytes = CONTEXT, k: int = 3, n: int = 5) -> PartialDecryption:
    public_key, shares = ceremony(k, n)
    return partial_decrypt(
        share=shares[index - 1], public_key=public_key, points=points(k, n), context=context
    )


def open_all(combined: Sequence[bytes], k: int = 3, n: int = 5) -> dict[str, bytes]:
    public_key, _ = ceremony(k, n)
    return {
        name: field_open(
            sealed=sealed, context=field_context(name), shared_point=point, public_key=public_key
        )
        for (name, sealed), point in zip(enrolment(k, n), combined, strict=True)
    }


def combine(partials: Sequence[PartialDecryption], context: bytes = CONTEXT) -> list[bytes]:
    public_key, _ = ceremony(3, 5)
    return partials_combine(
        partials=partials, public_key=public_key, points=points(), context=context
    )


def verify(candidate: PartialDecryption, context: bytes = CONTEXT) -> None:
    public_key, _ = ceremony(3, 5)
    partial_verify(partial=candidate, public_key=public_key, points=points(), context=context)


def bump(scalar: bytes) -> bytes:
    return group.scalar_add(scalar, group.scalar_from_int(1))


# -- release context ------------------------------------------------------------------------


def test_release_context_binds_request_and_log_index() -> None:
    assert release_context(request_id="req_7", approval_log_index=1041) == CONTEXT
    assert release_context(request_id="req_8", approval_log_index=1041) != CONTEXT
    assert release_context(request_id="req_7", approval_log_index=1042) != CONTEXT
    assert release_context(request_id="req_71", approval_log_index=0) != release_context(
        request_id="req_7", approval_log_index=1
    )


@pytest.mark.parametrize(
    ("request_id", "index"), [("", 1), ("req", -1), ("req", 2**64), ("req", True), (b"req", 1)]
)
def test_release_context_rejects_bad_arguments(request_id: Any, index: Any) -> None:
    with pytest.raises(ReleaseParameterError):
        release_context(request_id=request_id, approval_log_index=index)


# -- proofs and partial encoding ---------------------------------------------------------------


def test_proof_bytes_round_trip() -> None:
    proof = partial(1).proofs[0]
    raw = proof.to_bytes()
    assert raw == proof.c + proof.s
    assert DleqProof.from_bytes(raw) == proof


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        bytes(63),
        (2**253 - 1).to_bytes(32, "little") + bytes(32),
        bytes(32) + b"\xff" * 32,
    ],
)
def test_proof_from_bytes_rejects_malformed(raw: bytes) -> None:
    with pytest.raises(PartialFormatError):
        DleqProof.from_bytes(raw)


def test_partial_dict_round_trip_is_json_safe() -> None:
    original = partial(2)
    encoded = json.loads(json.dumps(original.to_dict()))
    assert encoded["format"] == "identity-escrow-partial/1"
    assert PartialDecryption.from_dict(encoded) == original


def _partial_dict_mutations() -> list[Callable[[dict[str, Any]], None]]:
    def wrong_format(d: dict[str, Any]) -> None:
        d["format"] = "identity-escrow-partial/0"

    def extra_key(d: dict[str, Any]) -> None:
        d["note"] = "hi"

    def missing_proofs(d: dict[str, Any]) -> None:
        del d["proofs"]

    def bool_index(d: dict[str, Any]) -> None:
        d["custodian_index"] = True

    def zero_index(d: dict[str, Any]) -> None:
        d["custodian_index"] = 0

    def short_share(d: dict[str, Any]) -> None:
        d["shares"][0] = d["shares"][0][:-2]

    def non_hex_proof(d: dict[str, Any]) -> None:
        d["proofs"][0] = "g" * 128

    def proof_count(d: dict[str, Any]) -> None:
        d["proofs"] = d["proofs"][:-1]

    def no_shares(d: dict[str, Any]) -> None:
        d["shares"], d["proofs"] = [], []

    def shares_not_list(d: dict[str, Any]) -> None:
        d["shares"] = "00"

    return [
        wrong_format, extra_key, missing_proofs, bool_index, zero_index, short_share,
        non_hex_proof, proof_count, no_shares, shares_not_list,
    ]  # fmt: skip


@pytest.mark.parametrize("mutate", _partial_dict_mutations(), ids=lambda f: f.__name__)
def test_partial_from_dict_rejects(mutate: Callable[[dict[str, Any]], None]) -> None:
    d = json.loads(json.dumps(partial(2).to_dict()))
    mutate(d)
    with pytest.raises(PartialFormatError):
        PartialDecryption.from_dict(d)


# -- the full release --------------------------------------------------------------------------


def test_three_of_five_release_opens_exactly_the_named_fields() -> None:
    combined = combine([partial(1), partial(3), partial(5)])
    assert open_all(combined) == IDENTITY


def test_every_valid_subset_gives_the_same_points() -> None:
    assert combine([partial(1), partial(2), partial(3)]) == combine(
        [partial(5), partial(4), partial(3)]
    )


def test_partial_verifies() -> None:
    for index in range(1, 6):
        verify(partial(index))


@settings(max_examples=20, deadline=None)
@given(data=st.data(), n=st.integers(1, 7))
def test_any_k_of_n_open_and_k_minus_one_never_do(data: st.DataObject, n: int) -> None:
    k = data.draw(st.integers(1, n))
    public_key, _ = ceremony(k, n)
    chosen = data.draw(st.lists(st.integers(1, n), min_size=k, max_size=k, unique=True))
    field_points = points(k, n)
    partials = [partial(i, CONTEXT, k, n) for i in chosen]
    combined = partials_combine(
        partials=partials, public_key=public_key, points=field_points, context=CONTEXT
    )
    assert open_all(combined, k, n) == IDENTITY
    if k == 1:
        return
    with pytest.raises(NotEnoughPartials) as excinfo:
        partials_combine(
            partials=partials[:-1], public_key=public_key, points=field_points, context=CONTEXT
        )
    assert excinfo.value.bad_indexes == ()
    # Interpolating k-1 valid partials as if the threshold were lower gives a wrong point.
    fewer = chosen[:-1]
    lambdas = {i: lagrange_coefficient(index=i, indexes=fewer) for i in fewer}
    (name, sealed), *_ = enrolment(k, n)
    guess: bytes | None = None
    for i, candidate in zip(chosen, partials, strict=True):
        if i in lambdas:
            term = group.point_mul(candidate.shares[0], lambdas[i])
            guess = term if guess is None else group.point_add(guess, term)
    assert guess is not None
    with pytest.raises(FieldDecryptionError):
        field_open(
            sealed=sealed, context=field_context(name), shared_point=guess, public_key=public_key
        )


# -- partial verification: each tampering named precisely --------------------------------------


def _replace_proof(candidate: PartialDecryption, j: int, **changes: bytes) -> PartialDecryption:
    proofs = list(candidate.proofs)
    proofs[j] = dataclasses.replace(proofs[j], **changes)
    return dataclasses.replace(candidate, proofs=tuple(proofs))


def _replace_share(candidate: PartialDecryption, j: int, point: bytes) -> PartialDecryption:
    shares = list(candidate.shares)
    shares[j] = point
    return dataclasses.replace(candidate, shares=tuple(shares))


TAMPERINGS: list[tuple[str, Callable[[PartialDecryption], PartialDecryption], str]] = [
    ("c flipped", lambda p: _replace_proof(p, 1, c=bump(p.proofs[1].c)), "proof"),
    ("s flipped", lambda p: _replace_proof(p, 2, s=bump(p.proofs[2].s)), "proof"),
    ("s zeroed", lambda p: _replace_proof(p, 0, s=bytes(32)), "proof"),
    ("c zeroed", lambda p: _replace_proof(p, 0, c=bytes(32)), "proof"),
    (
        "proofs swapped",
        lambda p: dataclasses.replace(p, proofs=(p.proofs[1], p.proofs[0], p.proofs[2])),
        "proof",
    ),
    (
        "D replaced by another valid point",
        lambda p: _replace_share(p, 0, group.point_base_mul(group.scalar_random())),
        "proof",
    ),
    ("D is small-order", lambda p: _replace_share(p, 1, SMALL_ORDER), "invalid point"),
    ("D is not a point", lambda p: _replace_share(p, 1, b"\xff" * 32), "invalid point"),
    ("claims another index", lambda p: dataclasses.replace(p, custodian_index=3), "proof"),
    ("unknown custodian", lambda p: dataclasses.replace(p, custodian_index=6), "unknown custodian"),
    ("epoch changed", lambda p: dataclasses.replace(p, epoch=2), "epoch"),
    (
        "one point short",
        lambda p: dataclasses.replace(p, shares=p.shares[:2], proofs=p.proofs[:2]),
        "point count",
    ),
]


@pytest.mark.parametrize(("name", "tamper", "reason"), TAMPERINGS, ids=[t[0] for t in TAMPERINGS])
def test_tampered_partial_is_refused(
    name: str, tamper: Callable[[PartialDecryption], PartialDecryption], reason: str
) -> None:
    with pytest.raises(PartialProofError) as excinfo:
        verify(tamper(partial(2)))
    assert excinfo.value.custodian_index == tamper(partial(2)).custodian_index
    assert excinfo.value.reason == reason


@pytest.mark.parametrize(
    "other_context",
    [
        release_context(request_id="req_8", approval_log_index=1041),
        release_context(request_id="req_7", approval_log_index=1040),
    ],
    ids=["other request id", "other log index"],
)
def test_partial_for_another_context_is_refused(other_context: bytes) -> None:
    with pytest.raises(PartialProofError) as excinfo:
        verify(partial(4), context=other_context)
    assert excinfo.value.custodian_index == 4
    assert excinfo.value.reason == "proof"


def test_partial_replayed_from_another_request_is_refused() -> None:
    earlier = release_context(request_id="req_3", approval_log_index=77)
    replayed = partial(4, context=earlier)
    with pytest.raises(PartialProofError):
        verify(replayed)
    # Same points, same shares: only the transcript's context tells the requests apart.
    assert replayed.shares == partial(4).shares


def test_partial_from_another_epochs_custodian_is_refused() -> None:
    other_key, other_shares = ceremony(3, 5, epoch=2)
    public_key, _ = ceremony(3, 5)
    stale = partial_decrypt(
        share=other_shares[0], public_key=other_key, points=points(), context=CONTEXT
    )
    with pytest.raises(PartialProofError) as excinfo:
        partial_verify(partial=stale, public_key=public_key, points=points(), context=CONTEXT)
    assert excinfo.value.reason == "epoch"


def test_partial_from_a_custodian_with_a_corrupted_share_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A custodian tool that skipped its own share check must still be caught by the server.
    public_key, shares = ceremony(3, 5)
    corrupted = dataclasses.replace(shares[0], scalar=bump(shares[0].scalar))
    monkeypatch.setattr(release, "share_verify", lambda **_: None)
    bad = partial_decrypt(share=corrupted, public_key=public_key, points=points(), context=CONTEXT)
    with pytest.raises(PartialProofError) as excinfo:
        verify(bad)
    assert excinfo.value.reason == "proof"


def test_partial_error_message_names_custodian_but_no_secret() -> None:
    with pytest.raises(PartialProofError) as excinfo:
        verify(dataclasses.replace(partial(2), epoch=2))
    assert "2" in str(excinfo.value)
    _, shares = ceremony(3, 5)
    assert shares[1].scalar.hex() not in str(excinfo.value)


# -- producing partials -----------------------------------------------------------------------


def test_partial_decrypt_refuses_small_order_input_point() -> None:
    public_key, shares = ceremony(3, 5)
    with pytest.raises(group.InvalidPoint):
        partial_decrypt(
            share=shares[0],
            public_key=public_key,
            points=[points()[0], SMALL_ORDER],
            context=CONTEXT,
        )


def test_partial_decrypt_refuses_a_share_that_does_not_match() -> None:
    public_key, shares = ceremony(3, 5)
    corrupted = dataclasses.replace(shares[0], scalar=bump(shares[0].scalar))
    with pytest.raises(ShareVerificationError):
        partial_decrypt(share=corrupted, public_key=public_key, points=points(), context=CONTEXT)


@pytest.mark.parametrize(("field_points", "context"), [([], CONTEXT), (None, b"")])
def test_partial_decrypt_refuses_empty_inputs(
    field_points: list[bytes] | None, context: bytes
) -> None:
    public_key, shares = ceremony(3, 5)
    with pytest.raises(ReleaseParameterError):
        partial_decrypt(
            share=shares[0],
            public_key=public_key,
            points=points() if field_points is None else field_points,
            context=context,
        )


def test_proof_nonces_are_fresh() -> None:
    public_key, shares = ceremony(3, 5)
    a, b = (
        partial_decrypt(share=shares[0], public_key=public_key, points=points(), context=CONTEXT)
        for _ in range(2)
    )
    assert a.shares == b.shares
    assert a.proofs[0] != b.proofs[0]


# -- combination ---------------------------------------------------------------------------


def test_one_bad_partial_among_four_is_skipped() -> None:
    forged = _replace_proof(partial(2), 0, s=bump(partial(2).proofs[0].s))
    combined = combine([partial(1), forged, partial(4), partial(5)])
    assert open_all(combined) == IDENTITY


def test_one_bad_partial_among_three_names_the_culprit() -> None:
    forged = _replace_share(partial(2), 0, group.point_base_mul(group.scalar_random()))
    with pytest.raises(NotEnoughPartials) as excinfo:
        combine([partial(1), forged, partial(4)])
    assert excinfo.value.bad_indexes == (2,)
    assert excinfo.value.valid_indexes == (1, 4)
    assert excinfo.value.threshold == 3


def test_duplicate_custodian_is_not_counted_twice() -> None:
    with pytest.raises(NotEnoughPartials) as excinfo:
        combine([partial(1), partial(1), partial(2)])
    assert excinfo.value.bad_indexes == (1,)
    assert excinfo.value.valid_indexes == (2,)


def test_duplicate_custodian_is_excluded_but_others_suffice() -> None:
    combined = combine([partial(1), partial(1), partial(2), partial(3), partial(4)])
    assert open_all(combined) == IDENTITY


def test_wrong_epoch_and_replayed_partials_are_listed() -> None:
    stale = dataclasses.replace(partial(3), epoch=9)
    replayed = partial(5, context=release_context(request_id="req_3", approval_log_index=77))
    with pytest.raises(NotEnoughPartials) as excinfo:
        combine([partial(1), stale, replayed, partial(2)])
    assert excinfo.value.bad_indexes == (3, 5)
    assert "3" in str(excinfo.value)


def test_combine_refuses_invalid_field_points() -> None:
    public_key, _ = ceremony(3, 5)
    with pytest.raises(group.InvalidPoint):
        partials_combine(
            partials=[partial(1), partial(2), partial(3)],
            public_key=public_key,
            points=[SMALL_ORDER, *points()[1:]],
            context=CONTEXT,
        )


def test_combine_for_other_points_is_refused() -> None:
    # Partials computed for fields of this request cannot open a different field set.
    public_key, _ = ceremony(3, 5)
    other = [group.point_base_mul(group.scalar_random()) for _ in range(3)]
    with pytest.raises(NotEnoughPartials) as excinfo:
        partials_combine(
            partials=[partial(1), partial(2), partial(3)],
            public_key=public_key,
            points=other,
            context=CONTEXT,
        )
    assert excinfo.value.bad_indexes == (1, 2, 3)


def test_errors_derive_from_crypto_error() -> None:
    for exc in (NotEnoughPartials, PartialFormatError, PartialProofError, ReleaseParameterError):
        assert issubclass(exc, CryptoError)
