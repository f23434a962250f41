"""Bounds and encoding widths of the escrow key that mutation testing found unpinned.

`make mutation` (tests/mutation.py) showed that an off-by-one in the epoch and
threshold bounds, or a different integer width in the public key's canonical encoding
(the input of the fingerprint custodians compare out of band), went unnoticed.
"""

from __future__ import annotations

import pytest

from escrow.crypto import group
from escrow.crypto.kdf import context_info
from escrow.crypto.threshold import (
    MAX_CUSTODIANS,
    MAX_EPOCH,
    EscrowPublicKey,
    InvalidPublicKey,
    ThresholdParameterError,
    ceremony_run,
    lagrange_coefficient,
    share_verify,
)


def test_the_public_key_encoding_uses_four_byte_big_endian_integers() -> None:
    public_key, _ = ceremony_run(threshold=2, custodians=3, epoch=0x01020304)
    expected = context_info(
        "public-key",
        bytes.fromhex("01020304"),
        bytes.fromhex("00000002"),
        bytes.fromhex("00000003"),
        public_key.public_point,
        *public_key.commitments,
        *public_key.verification_keys,
    )
    assert public_key.canonical_bytes() == expected
    assert len(public_key.commitments) == 2
    assert len(public_key.verification_keys) == 3


@pytest.mark.parametrize("epoch", [0, MAX_EPOCH])
def test_the_first_and_last_epochs_are_valid(epoch: int) -> None:
    public_key, shares = ceremony_run(threshold=1, custodians=1, epoch=epoch)
    assert public_key.epoch == epoch
    assert [share.epoch for share in shares] == [epoch]


@pytest.mark.parametrize("epoch", [-1, MAX_EPOCH + 1])
def test_an_epoch_outside_32_bits_is_refused(epoch: int) -> None:
    with pytest.raises(ThresholdParameterError, match="epoch"):
        ceremony_run(threshold=1, custodians=1, epoch=epoch)


def test_a_one_of_one_key_is_valid() -> None:
    public_key, shares = ceremony_run(threshold=1, custodians=1, epoch=1)
    assert (public_key.threshold, public_key.custodians, len(shares)) == (1, 1, 1)


def test_a_threshold_equal_to_the_custodian_count_is_valid() -> None:
    public_key, shares = ceremony_run(threshold=3, custodians=3, epoch=1)
    assert (public_key.threshold, public_key.custodians) == (3, 3)
    assert [share.index for share in shares] == [1, 2, 3]


@pytest.mark.parametrize(("k", "n"), [(0, 3), (4, 3), (1, 256)])
def test_a_threshold_outside_one_to_n_to_255_is_refused(k: int, n: int) -> None:
    with pytest.raises(ThresholdParameterError, match="threshold"):
        ceremony_run(threshold=k, custodians=n, epoch=1)


def test_a_ceremony_gives_exactly_one_share_per_custodian() -> None:
    public_key, shares = ceremony_run(threshold=2, custodians=4, epoch=1)
    assert [share.index for share in shares] == [1, 2, 3, 4]
    assert public_key.custodians == 4


def test_a_key_with_255_custodians_is_valid() -> None:
    public_key, shares = ceremony_run(threshold=2, custodians=MAX_CUSTODIANS, epoch=1)
    assert public_key.custodians == MAX_CUSTODIANS
    share_verify(share=shares[-1], public_key=public_key)
    assert shares[-1].index == MAX_CUSTODIANS


def test_custodian_index_255_has_a_lagrange_coefficient() -> None:
    # lambda_255 over {1, 255} = 1 / (1 - 255) mod L; lambda_1 + lambda_255 = 1.
    low = lagrange_coefficient(index=1, indexes=[1, MAX_CUSTODIANS])
    high = lagrange_coefficient(index=MAX_CUSTODIANS, indexes=[1, MAX_CUSTODIANS])
    assert group.scalar_add(low, high) == group.scalar_from_int(1)


def _fields(public_key: EscrowPublicKey) -> dict[str, object]:
    return {
        "epoch": public_key.epoch, "threshold": public_key.threshold,
        "public_point": public_key.public_point, "commitments": public_key.commitments,
        "verification_keys": public_key.verification_keys,
    }


@pytest.mark.parametrize(
    "change",
    [
        {"commitments": "list"},
        {"verification_keys": "list"},
        {"threshold": True},
        {"threshold": 1.0},
        {"epoch": -1},
        {"epoch": MAX_EPOCH + 1},
    ],
)
def test_a_public_key_with_a_malformed_field_is_refused(change: dict[str, object]) -> None:
    public_key, _ = ceremony_run(threshold=1, custodians=2, epoch=1)
    fields = _fields(public_key)
    for name, value in change.items():
        fields[name] = list(fields[name]) if value == "list" else value  # type: ignore[call-overload]
    EscrowPublicKey(**_fields(public_key))  # type: ignore[arg-type]  # the control
    with pytest.raises(InvalidPublicKey):
        EscrowPublicKey(**fields)  # type: ignore[arg-type]


def test_a_public_key_at_the_epoch_bounds_is_accepted() -> None:
    for epoch in (0, MAX_EPOCH):
        public_key, _ = ceremony_run(threshold=2, custodians=2, epoch=epoch)
        assert EscrowPublicKey(**_fields(public_key)).epoch == epoch  # type: ignore[arg-type]


def test_a_public_key_with_255_verification_keys_round_trips() -> None:
    public_key, _ = ceremony_run(threshold=1, custodians=MAX_CUSTODIANS, epoch=1)
    assert EscrowPublicKey.from_dict(public_key.to_dict()) == public_key


@pytest.mark.parametrize("field", ["commitments", "verification_keys"])
@pytest.mark.parametrize("shape", ["one string", "a number"])
def test_a_public_key_whose_points_are_not_a_list_is_refused(field: str, shape: str) -> None:
    public_key, _ = ceremony_run(threshold=1, custodians=1, epoch=1)
    data = public_key.to_dict()
    data[field] = data[field][0] if shape == "one string" else 7
    with pytest.raises(InvalidPublicKey):
        EscrowPublicKey.from_dict(data)
