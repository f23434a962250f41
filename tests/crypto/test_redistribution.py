"""Proactive share redistribution: custodian turnover without reassembling the escrow key.

The story: the 3-of-5 escrow key holding Ada's identity is handed by custodians 1, 3
and 5 to a new board of five with threshold 3. Releases keep working with the new
board, the public key does not change, and old and new shares do not combine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto import group
from escrow.crypto.envelope import FieldContext, FieldDecryptionError, field_open, field_seal
from escrow.crypto.errors import CryptoError
from escrow.crypto.redistribution import (
    DEALING_MAGIC,
    SUB_SHARE_MAGIC,
    Dealing,
    DealingVerificationError,
    RedistributionError,
    SubShare,
    redistribution_accept,
    redistribution_deal,
    redistribution_public_key,
)
from escrow.crypto.release import (
    NotEnoughPartials,
    PartialDecryption,
    partial_decrypt,
    partials_combine,
    release_context,
)
from escrow.crypto.threshold import (
    CustodianShare,
    EscrowPublicKey,
    ShareVerificationError,
    ThresholdParameterError,
    ceremony_run,
    lagrange_coefficient,
)

L = 2**252 + 27742317777372353535851937790883648493
CONTEXT = release_context(request_id="req_9", approval_log_index=2048)
ADA = FieldContext(record_id="enr_ada", platform_id="plt_forum", field_name="legal_name", epoch=1)

Board = tuple[EscrowPublicKey, tuple[CustodianShare, ...]]
Round = tuple[list[Dealing], dict[int, list[SubShare]]]


def scalar(value: int) -> bytes:
    return (value % L).to_bytes(32, "little")


def as_int(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


@cache
def ceremony(k: int, n: int) -> Board:
    public_key, shares = ceremony_run(threshold=k, custodians=n, epoch=1)
    return public_key, tuple(shares)


def deal_round(board: Board, dealers: Sequence[int], k2: int, n2: int) -> Round:
    public_key, shares = board
    dealings: list[Dealing] = []
    inbox: dict[int, list[SubShare]] = {j: [] for j in range(1, n2 + 1)}
    for i in dealers:
        dealing, sub_shares = redistribution_deal(
            share=shares[i - 1],
            public_key=public_key,
            dealers=dealers,
            new_threshold=k2,
            new_custodians=n2,
        )
        dealings.append(dealing)
        for sub_share in sub_shares:
            inbox[sub_share.recipient_index].append(sub_share)
    return dealings, inbox


def accept_all(board: Board, dealt: Round) -> Board:
    dealings, inbox = dealt
    new_shares = []
    keys = set()
    for j, received in inbox.items():
        new_key, share = redistribution_accept(
            old_public_key=board[0], dealings=dealings, sub_shares=received, recipient_index=j
        )
        keys.add(new_key)
        new_shares.append(share)
    # Every new custodian derives the same public key on their own machine.
    (new_key,) = keys
    return new_key, tuple(new_shares)


@cache
def handed_over(k2: int = 3, n2: int = 5) -> Board:
    board = ceremony(3, 5)
    return accept_all(board, deal_round(board, (1, 3, 5), k2, n2))


def release(public_key: EscrowPublicKey, shares: Sequence[CustodianShare], point: bytes) -> bytes:
    partials = [
        partial_decrypt(share=s, public_key=public_key, points=[point], context=CONTEXT)
        for s in shares
    ]
    (shared,) = partials_combine(
        partials=partials, public_key=public_key, points=[point], context=CONTEXT
    )
    return shared


# -- known answers ----------------------------------------------------------------------------


@pytest.fixture
def fixed_coefficients(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dealers draw 11, 12 (custodian 1), 13, 14 (custodian 3), 15, 16 (custodian 5)."""
    draws = iter(range(11, 17))
    monkeypatch.setattr(group, "scalar_random", lambda: scalar(next(draws)))


def test_known_answer_for_a_hand_computed_handover(fixed_coefficients: None) -> None:
    # f(x) = 7 + 3x + 5x^2, so x_i = 15, 33, 61, 97, 147 and the secret is 7.
    old_key = EscrowPublicKey(
        epoch=1,
        threshold=3,
        public_point=group.point_base_mul(scalar(7)),
        commitments=tuple(group.point_base_mul(scalar(a)) for a in (7, 3, 5)),
        verification_keys=tuple(
            group.point_base_mul(scalar(7 + 3 * i + 5 * i * i)) for i in range(1, 6)
        ),
    )
    old_shares = tuple(
        CustodianShare(epoch=1, index=i, scalar=scalar(7 + 3 * i + 5 * i * i)) for i in range(1, 6)
    )
    new_key, new_shares = accept_all(
        (old_key, old_shares), deal_round((old_key, old_shares), (1, 3, 5), 3, 5)
    )
    # lambda = 15/8, -5/4, 3/8; g(x) = 7 + (11+13+15)x + (12+14+16)x^2 = 7 + 39x + 42x^2.
    assert [as_int(s.scalar) for s in new_shares] == [88, 253, 502, 835, 1252]
    assert new_key.commitments == tuple(group.point_base_mul(scalar(a)) for a in (7, 39, 42))
    assert new_key.public_point == old_key.public_point


def test_known_answer_dealing_encoding(fixed_coefficients: None) -> None:
    public_key = EscrowPublicKey(
        epoch=1,
        threshold=1,
        public_point=group.point_base_mul(scalar(7)),
        commitments=(group.point_base_mul(scalar(7)),),
        verification_keys=(group.point_base_mul(scalar(7)),),
    )
    share = CustodianShare(epoch=1, index=1, scalar=scalar(7))
    dealing, (sub_share, _) = redistribution_deal(
        share=share, public_key=public_key, dealers=[1], new_threshold=2, new_custodians=2
    )
    assert dealing.to_bytes() == (
        b"identity-escrow/redistribution-dealing/1\n"
        + (1).to_bytes(4, "big")
        + public_key.fingerprint()
        + bytes.fromhex("0000000100000001000000010000000200000002")
        + group.point_base_mul(scalar(7))
        + group.point_base_mul(scalar(11))
    )
    assert sub_share.to_bytes() == (
        b"identity-escrow/redistribution-sub-share/1\n"
        + dealing.digest()
        + bytes.fromhex("0000000100000001")
        + scalar(18)
    )


# -- the properties ---------------------------------------------------------------------------


def test_handover_keeps_the_public_key_and_releases_work_with_the_new_board() -> None:
    old_key, _ = ceremony(3, 5)
    new_key, new_shares = handed_over()
    assert new_key.public_point == old_key.public_point
    assert new_key.commitments[0] == old_key.public_point
    assert new_key.commitments != old_key.commitments
    sealed = field_seal(public_key=old_key, context=ADA, plaintext=b"Ada Augusta King")
    shared = release(new_key, new_shares[1:4], sealed.ephemeral_point)
    opened = field_open(sealed=sealed, context=ADA, shared_point=shared, public_key=new_key)
    assert opened == b"Ada Augusta King"


def test_a_new_board_with_another_threshold_and_size_works() -> None:
    old_key, _ = ceremony(3, 5)
    new_key, new_shares = handed_over(k2=2, n2=4)
    assert (new_key.threshold, new_key.custodians) == (2, 4)
    sealed = field_seal(public_key=old_key, context=ADA, plaintext=b"Ada")
    shared = release(new_key, [new_shares[0], new_shares[3]], sealed.ephemeral_point)
    assert field_open(sealed=sealed, context=ADA, shared_point=shared, public_key=new_key) == b"Ada"


def test_old_and_new_shares_do_not_combine() -> None:
    old_key, old_shares = ceremony(3, 5)
    new_key, new_shares = handed_over()
    sealed = field_seal(public_key=old_key, context=ADA, plaintext=b"Ada Augusta King")
    point = sealed.ephemeral_point

    def partial(key: EscrowPublicKey, share: CustodianShare) -> PartialDecryption:
        return partial_decrypt(share=share, public_key=key, points=[point], context=CONTEXT)

    # Old shares fail their proofs against the new key, and new ones against the old key.
    for key, partials, bad in [
        (
            new_key,
            [partial(old_key, old_shares[0]), *map(partial, [new_key] * 2, new_shares[1:3])],
            (1,),
        ),
        (
            old_key,
            [*map(partial, [old_key] * 2, old_shares[:2]), partial(new_key, new_shares[2])],
            (3,),
        ),
    ]:
        with pytest.raises(NotEnoughPartials) as excinfo:
            partials_combine(partials=partials, public_key=key, points=[point], context=CONTEXT)
        assert excinfo.value.bad_indexes == bad
    # Interpolating the raw shares anyway gives the wrong x R, so the field stays shut.
    mixed = [old_shares[0], old_shares[1], new_shares[2]]
    indexes = [s.index for s in mixed]
    terms = [
        group.point_mul(
            point, group.scalar_mul(s.scalar, lagrange_coefficient(index=s.index, indexes=indexes))
        )
        for s in mixed
    ]
    guess = group.point_add(group.point_add(terms[0], terms[1]), terms[2])
    with pytest.raises(FieldDecryptionError):
        field_open(sealed=sealed, context=ADA, shared_point=guess, public_key=old_key)


def test_an_old_share_does_not_verify_against_the_new_key() -> None:
    _, old_shares = ceremony(3, 5)
    new_key, _ = handed_over()
    with pytest.raises(ShareVerificationError):
        partial_decrypt(
            share=old_shares[0], public_key=new_key, points=[new_key.public_point], context=CONTEXT
        )


@settings(max_examples=8, deadline=None)
@given(data=st.data(), n=st.integers(1, 5), n2=st.integers(1, 5))
def test_any_k_dealers_hand_over_to_any_board(data: st.DataObject, n: int, n2: int) -> None:
    k = data.draw(st.integers(1, n))
    k2 = data.draw(st.integers(1, n2))
    dealers = data.draw(st.lists(st.integers(1, n), min_size=k, max_size=k, unique=True))
    board = ceremony(k, n)
    new_key, new_shares = accept_all(board, deal_round(board, dealers, k2, n2))
    assert new_key.public_point == board[0].public_point
    chosen = data.draw(st.lists(st.sampled_from(new_shares), min_size=k2, max_size=k2, unique=True))
    sealed = field_seal(public_key=board[0], context=ADA, plaintext=b"x")
    shared = release(new_key, chosen, sealed.ephemeral_point)
    assert field_open(sealed=sealed, context=ADA, shared_point=shared, public_key=new_key) == b"x"


# -- cheating dealers and bad messages --------------------------------------------------------


def test_a_wrong_sub_share_names_its_dealer() -> None:
    board = ceremony(3, 5)
    dealings, inbox = deal_round(board, (1, 3, 5), 3, 5)
    received = inbox[2]
    forged = dataclasses.replace(
        received[1], scalar=group.scalar_add(received[1].scalar, scalar(1))
    )
    with pytest.raises(DealingVerificationError) as excinfo:
        redistribution_accept(
            old_public_key=board[0],
            dealings=dealings,
            sub_shares=[received[0], forged, received[2]],
            recipient_index=2,
        )
    assert (excinfo.value.dealer_index, excinfo.value.reason) == (3, "sub-share")


def test_a_dealer_who_deals_another_value_is_caught_by_the_constant_term_check() -> None:
    board = ceremony(3, 5)
    dealings, inbox = deal_round(board, (1, 3, 5), 3, 5)
    # Dealer 5 deals its unweighted share x_5 with a consistent polynomial: every
    # sub-share matches the commitments, but the constant term is not lambda_5 X_5.
    coefficients = [board[1][4].scalar, group.scalar_random(), group.scalar_random()]
    cheat = dataclasses.replace(
        dealings[2], commitments=tuple(group.point_base_mul(c) for c in coefficients)
    )
    cheat_sub_share = SubShare(
        dealing_digest=cheat.digest(),
        dealer_index=5,
        recipient_index=2,
        scalar=scalar(sum(as_int(c) * 2**m for m, c in enumerate(coefficients))),
    )
    with pytest.raises(DealingVerificationError) as excinfo:
        redistribution_accept(
            old_public_key=board[0],
            dealings=[*dealings[:2], cheat],
            sub_shares=[*inbox[2][:2], cheat_sub_share],
            recipient_index=2,
        )
    assert (excinfo.value.dealer_index, excinfo.value.reason) == (5, "weighted share")


@pytest.mark.parametrize(
    ("change", "dealer", "reason"),
    [
        (
            lambda d: [d[0], d[1], dataclasses.replace(d[2], old_key_fingerprint=bytes(32))],
            5,
            "old key",
        ),
        (lambda d: [d[0], d[1], dataclasses.replace(d[2], dealers=(1, 2, 5))], 5, "dealer set"),
        (lambda d: [d[0], d[1], dataclasses.replace(d[2], new_custodians=4)], 5, "parameters"),
        (lambda d: [d[0], d[1], d[1]], 3, "duplicate"),
        (lambda d: [d[0], d[1]], 5, "missing"),
    ],
)
def test_inconsistent_dealings_are_refused_naming_the_dealer(
    change: Callable[[list[Dealing]], list[Dealing]], dealer: int, reason: str
) -> None:
    board = ceremony(3, 5)
    dealings, _ = deal_round(board, (1, 3, 5), 3, 5)
    with pytest.raises(DealingVerificationError) as excinfo:
        redistribution_public_key(old_public_key=board[0], dealings=change(dealings))
    assert (excinfo.value.dealer_index, excinfo.value.reason) == (dealer, reason)


def test_a_sub_share_replayed_to_another_custodian_is_refused() -> None:
    board = ceremony(3, 5)
    dealings, inbox = deal_round(board, (1, 3, 5), 3, 5)
    with pytest.raises(DealingVerificationError):
        redistribution_accept(
            old_public_key=board[0], dealings=dealings, sub_shares=inbox[1], recipient_index=2
        )


def test_a_missing_sub_share_is_refused() -> None:
    board = ceremony(3, 5)
    dealings, inbox = deal_round(board, (1, 3, 5), 3, 5)
    with pytest.raises(RedistributionError):
        redistribution_accept(
            old_public_key=board[0], dealings=dealings, sub_shares=inbox[1][:2], recipient_index=1
        )


def test_dealing_needs_exactly_k_dealers_and_a_valid_share() -> None:
    public_key, shares = ceremony(3, 5)
    with pytest.raises(ThresholdParameterError):
        redistribution_deal(
            share=shares[0],
            public_key=public_key,
            dealers=[1, 2],
            new_threshold=2,
            new_custodians=3,
        )
    with pytest.raises(ThresholdParameterError):
        redistribution_deal(
            share=shares[0],
            public_key=public_key,
            dealers=[2, 3, 4],
            new_threshold=2,
            new_custodians=3,
        )
    with pytest.raises(ThresholdParameterError):
        redistribution_deal(
            share=shares[0],
            public_key=public_key,
            dealers=[1, 2, 3],
            new_threshold=4,
            new_custodians=3,
        )
    forged = CustodianShare(epoch=1, index=1, scalar=shares[1].scalar)
    with pytest.raises(ShareVerificationError):
        redistribution_deal(
            share=forged,
            public_key=public_key,
            dealers=[1, 2, 3],
            new_threshold=2,
            new_custodians=3,
        )


def test_messages_round_trip_and_sub_shares_hide_their_scalar() -> None:
    board = ceremony(3, 5)
    dealings, inbox = deal_round(board, (1, 3, 5), 3, 5)
    for dealing in dealings:
        assert Dealing.from_bytes(dealing.to_bytes()) == dealing
    for sub_share in inbox[4]:
        assert SubShare.from_bytes(sub_share.to_bytes()) == sub_share
        assert sub_share.scalar.hex() not in repr(sub_share)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw[:-1],
        lambda raw: raw + b"\x00",
        lambda raw: raw.replace(b"/1\n", b"/2\n", 1),
        lambda raw: (
            raw[: len(DEALING_MAGIC) + 36]
            + (999).to_bytes(4, "big")
            + raw[len(DEALING_MAGIC) + 40 :]
        ),
        lambda raw: raw[:-32] + bytes(32),
        lambda raw: b"",
    ],
)
def test_malformed_dealings_are_refused(mangle: Callable[[bytes], bytes]) -> None:
    board = ceremony(3, 5)
    dealings, _ = deal_round(board, (1, 3, 5), 3, 5)
    with pytest.raises(RedistributionError):
        Dealing.from_bytes(mangle(dealings[0].to_bytes()))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw[:-1],
        lambda raw: raw + b"\x00",
        lambda raw: raw[:-32] + bytes(32),
        lambda raw: raw[:-32] + b"\xff" * 32,
        lambda raw: DEALING_MAGIC + raw[len(SUB_SHARE_MAGIC) :],
    ],
)
def test_malformed_sub_shares_are_refused(mangle: Callable[[bytes], bytes]) -> None:
    board = ceremony(3, 5)
    _, inbox = deal_round(board, (1, 3, 5), 3, 5)
    with pytest.raises(RedistributionError):
        SubShare.from_bytes(mangle(inbox[1][0].to_bytes()))


def test_errors_derive_from_crypto_error() -> None:
    assert issubclass(DealingVerificationError, RedistributionError)
    assert issubclass(RedistributionError, CryptoError)
