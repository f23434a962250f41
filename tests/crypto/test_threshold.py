"""Key ceremony, Feldman-verifiable shares, Lagrange coefficients, public-key encoding."""

from __future__ import annotations

import itertools
import json
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto import group
from escrow.crypto.errors import CryptoError
from escrow.crypto.threshold import (
    CustodianShare,
    EscrowPublicKey,
    InvalidPublicKey,
    InvalidShare,
    ShareVerificationError,
    ThresholdParameterError,
    ceremony_run,
    lagrange_coefficient,
    share_verify,
)

L = 2**252 + 27742317777372353535851937790883648493
SMALL_ORDER = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")


@cache
def ceremony(k: int, n: int, epoch: int = 1) -> tuple[EscrowPublicKey, tuple[CustodianShare, ...]]:
    public_key, shares = ceremony_run(threshold=k, custodians=n, epoch=epoch)
    return public_key, tuple(shares)


def combine_public(indexes: list[int], public_key: EscrowPublicKey) -> bytes:
    """Lagrange interpolation in the exponent, over public verification keys only."""
    total: bytes | None = None
    for i in indexes:
        term = group.point_mul(
            public_key.verification_keys[i - 1],
            lagrange_coefficient(index=i, indexes=indexes),
        )
        total = term if total is None else group.point_add(total, term)
    assert total is not None
    return total


def test_ceremony_publishes_consistent_key_and_verifiable_shares() -> None:
    public_key, shares = ceremony(3, 5)
    assert public_key.epoch == 1
    assert public_key.threshold == 3
    assert public_key.custodians == 5
    assert len(public_key.commitments) == 3
    assert public_key.commitments[0] == public_key.public_point
    assert [s.index for s in shares] == [1, 2, 3, 4, 5]
    for share in shares:
        assert share.epoch == 1
        share_verify(share=share, public_key=public_key)
        assert group.point_base_mul(share.scalar) == public_key.verification_keys[share.index - 1]


def test_two_ceremonies_give_independent_keys() -> None:
    a, _ = ceremony_run(threshold=2, custodians=3, epoch=1)
    b, _ = ceremony_run(threshold=2, custodians=3, epoch=1)
    assert a.public_point != b.public_point
    assert a.fingerprint() != b.fingerprint()


@pytest.mark.parametrize(("k", "n"), [(0, 3), (4, 3), (-1, 3), (1, 0), (2, 256), (True, 3)])
def test_ceremony_rejects_impossible_thresholds(k: int, n: int) -> None:
    with pytest.raises(ThresholdParameterError):
        ceremony_run(threshold=k, custodians=n, epoch=1)


@pytest.mark.parametrize("epoch", [-1, 2**32, True])
def test_ceremony_rejects_bad_epochs(epoch: int) -> None:
    with pytest.raises(ThresholdParameterError):
        ceremony_run(threshold=1, custodians=1, epoch=epoch)


def test_one_of_one_share_is_the_secret_itself() -> None:
    public_key, (share,) = ceremony(1, 1)
    assert group.point_base_mul(share.scalar) == public_key.public_point


def test_share_repr_never_shows_the_scalar() -> None:
    _, shares = ceremony(2, 3)
    share = shares[0]
    for text in (repr(share), str(share), f"{share}", repr([share])):
        assert share.scalar.hex() not in text
        assert repr(share.scalar) not in text
        assert "index=1" in text


def test_share_rejects_malformed_fields() -> None:
    with pytest.raises(InvalidShare):
        CustodianShare(epoch=1, index=0, scalar=group.scalar_random())
    with pytest.raises(InvalidShare):
        CustodianShare(epoch=1, index=256, scalar=group.scalar_random())
    with pytest.raises(InvalidShare):
        CustodianShare(epoch=1, index=1, scalar=bytes(32))
    with pytest.raises(InvalidShare):
        CustodianShare(epoch=1, index=1, scalar=L.to_bytes(32, "little"))
    with pytest.raises(InvalidShare):
        CustodianShare(epoch=-1, index=1, scalar=group.scalar_random())


def test_altered_share_fails_feldman_check() -> None:
    public_key, shares = ceremony(3, 5)
    share = shares[1]
    bumped = CustodianShare(
        epoch=share.epoch,
        index=share.index,
        scalar=group.scalar_add(share.scalar, group.scalar_from_int(1)),
    )
    with pytest.raises(ShareVerificationError):
        share_verify(share=bumped, public_key=public_key)


def test_share_with_another_index_fails() -> None:
    public_key, shares = ceremony(3, 5)
    moved = CustodianShare(epoch=1, index=3, scalar=shares[1].scalar)
    with pytest.raises(ShareVerificationError):
        share_verify(share=moved, public_key=public_key)


def test_share_beyond_custodian_count_fails() -> None:
    public_key, shares = ceremony(3, 5)
    outsider = CustodianShare(epoch=1, index=6, scalar=shares[0].scalar)
    with pytest.raises(ShareVerificationError):
        share_verify(share=outsider, public_key=public_key)


def test_share_from_another_epoch_fails() -> None:
    public_key, shares = ceremony(3, 5)
    stale = CustodianShare(epoch=2, index=1, scalar=shares[0].scalar)
    with pytest.raises(ShareVerificationError):
        share_verify(share=stale, public_key=public_key)


def test_share_from_another_ceremony_fails() -> None:
    public_key, _ = ceremony(3, 5)
    _, other_shares = ceremony(3, 5, epoch=1_000)
    foreign = CustodianShare(epoch=1, index=1, scalar=other_shares[0].scalar)
    with pytest.raises(ShareVerificationError):
        share_verify(share=foreign, public_key=public_key)


def test_lagrange_known_answers() -> None:
    one = group.scalar_from_int(1)
    two, three = group.scalar_from_int(2), group.scalar_from_int(3)
    # f(0) = 2 f(1) - f(2) for lines; 3 f(1) - 3 f(2) + f(3) for parabolas.
    assert lagrange_coefficient(index=1, indexes=[1, 2]) == two
    assert lagrange_coefficient(index=2, indexes=[1, 2]) == group.scalar_negate(one)
    assert lagrange_coefficient(index=1, indexes=[1, 2, 3]) == three
    assert lagrange_coefficient(index=2, indexes=[1, 2, 3]) == group.scalar_negate(three)
    assert lagrange_coefficient(index=3, indexes=[1, 2, 3]) == one
    assert lagrange_coefficient(index=4, indexes=[4]) == one


@settings(max_examples=30, deadline=None)
@given(indexes=st.lists(st.integers(1, 255), min_size=1, max_size=8, unique=True))
def test_lagrange_coefficients_agree_with_integer_oracle(indexes: list[int]) -> None:
    for i in indexes:
        expected = 1
        for j in indexes:
            if j != i:
                expected = expected * j * pow(j - i, -1, L) % L
        got = lagrange_coefficient(index=i, indexes=indexes)
        assert int.from_bytes(got, "little") == expected


@pytest.mark.parametrize(
    ("index", "indexes"),
    [(1, [2, 3]), (1, [1, 1, 2]), (0, [0, 1]), (1, []), (256, [256, 1])],
)
def test_lagrange_rejects_bad_index_sets(index: int, indexes: list[int]) -> None:
    with pytest.raises(ThresholdParameterError):
        lagrange_coefficient(index=index, indexes=indexes)


@settings(max_examples=15, deadline=None)
@given(data=st.data(), n=st.integers(1, 7))
def test_any_k_verification_keys_interpolate_to_public_key(data: st.DataObject, n: int) -> None:
    k = data.draw(st.integers(1, n))
    public_key, _ = ceremony(k, n)
    chosen = data.draw(st.lists(st.integers(1, n), min_size=k, max_size=k, unique=True))
    assert combine_public(chosen, public_key) == public_key.public_point
    if k >= 2:
        assert combine_public(chosen[:-1], public_key) != public_key.public_point


def test_every_subset_of_a_3_of_5_interpolates() -> None:
    public_key, _ = ceremony(3, 5)
    for subset in itertools.combinations(range(1, 6), 3):
        assert combine_public(list(subset), public_key) == public_key.public_point


def test_public_key_dict_round_trip_is_json_safe() -> None:
    public_key, _ = ceremony(3, 5)
    encoded = json.loads(json.dumps(public_key.to_dict()))
    assert encoded["format"] == "identity-escrow-public-key/1"
    decoded = EscrowPublicKey.from_dict(encoded)
    assert decoded == public_key
    assert decoded.fingerprint() == public_key.fingerprint()


def _dict(k: int = 3, n: int = 5) -> dict[str, Any]:
    public_key, _ = ceremony(k, n)
    return json.loads(json.dumps(public_key.to_dict()))  # type: ignore[no-any-return]


def _mutations() -> list[tuple[str, Any]]:
    def small_order_vk(d: dict[str, Any]) -> None:
        d["verification_keys"][2] = SMALL_ORDER.hex()

    def small_order_commitment(d: dict[str, Any]) -> None:
        d["commitments"][1] = SMALL_ORDER.hex()

    def swapped_vks(d: dict[str, Any]) -> None:
        vks = d["verification_keys"]
        vks[0], vks[1] = vks[1], vks[0]

    def public_point_not_c0(d: dict[str, Any]) -> None:
        d["public_point"] = d["verification_keys"][0]

    def threshold_above_n(d: dict[str, Any]) -> None:
        d["threshold"] = 6

    def commitment_count_mismatch(d: dict[str, Any]) -> None:
        d["commitments"] = d["commitments"][:2]

    def bool_epoch(d: dict[str, Any]) -> None:
        d["epoch"] = True

    def wrong_format(d: dict[str, Any]) -> None:
        d["format"] = "identity-escrow-public-key/2"

    def extra_key(d: dict[str, Any]) -> None:
        d["secret"] = "00"

    def missing_key(d: dict[str, Any]) -> None:
        del d["commitments"]

    def bad_hex(d: dict[str, Any]) -> None:
        d["public_point"] = "zz" * 32

    def short_point(d: dict[str, Any]) -> None:
        d["verification_keys"][0] = d["verification_keys"][0][:62]

    def uppercase_hex(d: dict[str, Any]) -> None:
        d["public_point"] = d["public_point"].upper()

    def string_threshold(d: dict[str, Any]) -> None:
        d["threshold"] = "3"

    def vk_count_mismatch(d: dict[str, Any]) -> None:
        d["custodians"] = 4

    return [(f.__name__, f) for f in [
        small_order_vk, small_order_commitment, swapped_vks, public_point_not_c0,
        threshold_above_n, commitment_count_mismatch, bool_epoch, wrong_format, extra_key,
        missing_key, bad_hex, short_point, uppercase_hex, string_threshold, vk_count_mismatch,
    ]]  # fmt: skip


@pytest.mark.parametrize(("name", "mutate"), _mutations())
def test_public_key_from_dict_rejects(name: str, mutate: Any) -> None:
    d = _dict()
    mutate(d)
    with pytest.raises(InvalidPublicKey):
        EscrowPublicKey.from_dict(d)


def test_public_key_with_commitments_that_cancel_is_rejected() -> None:
    # C_1 = -C_2 makes Horner's rule at i = 1 pass through the identity.
    public_key, _ = ceremony(3, 5)
    c2 = public_key.commitments[2]
    minus_c2 = group.point_mul(c2, group.scalar_negate(group.scalar_from_int(1)))
    d = _dict()
    d["commitments"][1] = minus_c2.hex()
    with pytest.raises(InvalidPublicKey):
        EscrowPublicKey.from_dict(d)


def test_public_key_from_dict_rejects_non_dict() -> None:
    with pytest.raises(InvalidPublicKey):
        EscrowPublicKey.from_dict([])  # type: ignore[arg-type]


def test_public_key_constructor_enforces_feldman_consistency() -> None:
    public_key, _ = ceremony(2, 3)
    with pytest.raises(InvalidPublicKey):
        EscrowPublicKey(
            epoch=public_key.epoch,
            threshold=public_key.threshold,
            public_point=public_key.public_point,
            commitments=public_key.commitments,
            verification_keys=tuple(reversed(public_key.verification_keys)),
        )


def test_errors_derive_from_crypto_error() -> None:
    for exc in (ThresholdParameterError, InvalidPublicKey, InvalidShare, ShareVerificationError):
        assert issubclass(exc, CryptoError)
