"""The Ed25519 prime-order group wrapper, checked against RFC 8032 constants and int arithmetic.

Python ints appear here only as an independent oracle for libsodium's scalar arithmetic.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto import group
from escrow.crypto.errors import CryptoError

# RFC 8032 s5.1: group order L and the base point B (y = 4/5, x even).
L = 2**252 + 27742317777372353535851937790883648493
BASE_POINT_HEX = "5866666666666666666666666666666666666666666666666666666666666666"

# The eight torsion points and the non-canonical encodings of two of them; every one of
# them must be refused, or a malicious custodian could leak or fix bits of a product.
SMALL_ORDER_POINTS = [
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p, non-canonical
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1, non-canonical
]

scalar_ints = st.integers(min_value=1, max_value=L - 1)


def enc(i: int) -> bytes:
    return (i % L).to_bytes(32, "little")


def dec(s: bytes) -> int:
    return int.from_bytes(s, "little")


def test_base_point_encoding_matches_rfc8032() -> None:
    assert group.BASE_POINT.hex() == BASE_POINT_HEX
    assert group.point_base_mul(group.scalar_from_int(1)) == group.BASE_POINT
    group.point_validate(group.BASE_POINT)


def test_scalar_from_int_reduces_modulo_the_group_order() -> None:
    assert group.scalar_from_int(0) == bytes(32)
    assert group.scalar_from_int(L) == bytes(32)
    assert group.scalar_from_int(L + 5) == enc(5)
    assert group.scalar_from_int(2**511) == enc(2**511)
    with pytest.raises(group.InvalidScalar):
        group.scalar_from_int(-1)
    with pytest.raises(group.InvalidScalar):
        group.scalar_from_int(2**512)


def test_group_order_times_base_point_is_refused() -> None:
    # L*G is the identity; a non-canonical scalar must never reach libsodium, and a scalar
    # that reduces to zero must not silently produce the identity.
    with pytest.raises(group.InvalidScalar):
        group.point_base_mul(L.to_bytes(32, "little"))
    with pytest.raises(group.InvalidScalar):
        group.point_base_mul(group.scalar_from_int(L))
    with pytest.raises(group.InvalidScalar):
        group.point_mul(group.BASE_POINT, bytes(32))


def test_scalar_validate_accepts_only_canonical_encodings() -> None:
    group.scalar_validate(enc(L - 1))
    group.scalar_validate(bytes(32), nonzero=False)
    for bad in (L.to_bytes(32, "little"), (2**256 - 1).to_bytes(32, "little"), b"\x01" * 31):
        with pytest.raises(group.InvalidScalar):
            group.scalar_validate(bad)
    with pytest.raises(group.InvalidScalar):
        group.scalar_validate(bytes(32))


def test_negate_one_is_group_order_minus_one() -> None:
    assert group.scalar_negate(group.scalar_from_int(1)) == enc(L - 1)


def test_invert_zero_is_refused() -> None:
    with pytest.raises(group.InvalidScalar):
        group.scalar_invert(bytes(32))


@pytest.mark.parametrize("point_hex", SMALL_ORDER_POINTS)
def test_small_order_and_non_canonical_points_are_refused(point_hex: str) -> None:
    point = bytes.fromhex(point_hex)
    assert not group.point_is_valid(point)
    with pytest.raises(group.InvalidPoint):
        group.point_validate(point)
    with pytest.raises(group.InvalidPoint):
        group.point_mul(point, group.scalar_from_int(7))


def test_torsion_tainted_point_is_refused() -> None:
    # On the curve but outside the prime-order subgroup: G plus an order-8 point.
    import nacl.bindings

    tainted = nacl.bindings.crypto_core_ed25519_add(
        group.BASE_POINT, bytes.fromhex(SMALL_ORDER_POINTS[4])
    )
    with pytest.raises(group.InvalidPoint):
        group.point_validate(tainted)


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_wrong_length_points_and_scalars_are_refused(length: int) -> None:
    with pytest.raises(group.InvalidPoint):
        group.point_validate(b"\x58" * length)
    with pytest.raises(group.InvalidScalar):
        group.scalar_validate(b"\x01" * length)


def test_errors_derive_from_crypto_error() -> None:
    assert issubclass(group.InvalidPoint, CryptoError)
    assert issubclass(group.InvalidScalar, CryptoError)
    assert issubclass(group.InvalidDomain, CryptoError)


def test_scalar_random_is_canonical_nonzero_and_fresh() -> None:
    samples = {group.scalar_random() for _ in range(64)}
    assert len(samples) == 64
    for s in samples:
        group.scalar_validate(s)


@settings(max_examples=40, deadline=None)
@given(a=scalar_ints, b=scalar_ints)
def test_scalar_arithmetic_agrees_with_integers_mod_l(a: int, b: int) -> None:
    sa, sb = enc(a), enc(b)
    assert dec(group.scalar_add(sa, sb)) == (a + b) % L
    assert dec(group.scalar_sub(sa, sb)) == (a - b) % L
    assert dec(group.scalar_mul(sa, sb)) == (a * b) % L
    assert dec(group.scalar_negate(sa)) == (-a) % L
    assert dec(group.scalar_invert(sa)) == pow(a, -1, L)


@settings(max_examples=20, deadline=None)
@given(a=scalar_ints, b=scalar_ints)
def test_point_operations_are_a_homomorphism(a: int, b: int) -> None:
    sa, sb = enc(a), enc(b)
    a_g, b_g = group.point_base_mul(sa), group.point_base_mul(sb)
    if (a + b) % L:
        assert group.point_add(a_g, b_g) == group.point_base_mul(group.scalar_add(sa, sb))
    if (a - b) % L:
        assert group.point_sub(a_g, b_g) == group.point_base_mul(group.scalar_sub(sa, sb))
    assert group.point_mul(b_g, sa) == group.point_base_mul(group.scalar_mul(sa, sb))
    assert group.point_mul(group.BASE_POINT, sa) == a_g


def _reference_hash_to_scalar(domain: bytes, parts: list[bytes]) -> bytes:
    framed = b"".join(len(p).to_bytes(4, "big") + p for p in [domain, *parts])
    return enc(int.from_bytes(hashlib.sha512(framed).digest(), "little"))


@settings(max_examples=40, deadline=None)
@given(
    domain=st.binary(min_size=1, max_size=40), parts=st.lists(st.binary(max_size=80), max_size=5)
)
def test_hash_to_scalar_matches_reference_framing(domain: bytes, parts: list[bytes]) -> None:
    got = group.hash_to_scalar(domain=domain, parts=parts)
    assert got == _reference_hash_to_scalar(domain, parts)
    group.scalar_validate(got, nonzero=False)


def test_hash_to_scalar_is_unambiguous_and_domain_separated() -> None:
    h = group.hash_to_scalar
    assert h(domain=b"d", parts=[b"ab", b"c"]) != h(domain=b"d", parts=[b"a", b"bc"])
    assert h(domain=b"d", parts=[b"ab"]) != h(domain=b"e", parts=[b"ab"])
    assert h(domain=b"d", parts=[b""]) != h(domain=b"d", parts=[])
    with pytest.raises(group.InvalidDomain):
        h(domain=b"", parts=[b"x"])


def test_ephemeral_key_agreement_gives_r_g_and_r_p() -> None:
    x = group.scalar_random()
    public_point = group.point_base_mul(x)
    ephemeral_point, shared_point = group.ephemeral_key_agreement(public_point)
    group.point_validate(ephemeral_point)
    assert shared_point == group.point_mul(ephemeral_point, x)
    assert group.ephemeral_key_agreement(public_point)[0] != ephemeral_point


def test_ephemeral_key_agreement_refuses_small_order_points() -> None:
    with pytest.raises(group.InvalidPoint):
        group.ephemeral_key_agreement(bytes.fromhex(SMALL_ORDER_POINTS[6]))


# --- The X25519 form of the key agreement (envelope version 3) ---

P = 2**255 - 19


def montgomery_u_reference(point: bytes) -> bytes:
    """RFC 7748 s4.1, u = (1 + y) / (1 - y) mod p, in Python ints: an oracle independent
    of libsodium's conversion."""
    y = int.from_bytes(point, "little") & ((1 << 255) - 1)
    return ((1 + y) * pow(1 - y, P - 2, P) % P).to_bytes(32, "little")


def clamped(k: bytes) -> int:
    """RFC 7748 s5 decodeScalar25519."""
    raw = bytearray(k)
    raw[0] &= 248
    raw[31] &= 127
    raw[31] |= 64
    return int.from_bytes(raw, "little")


# RFC 7748 s5.2, the first X25519 test vector: scalar, input u, output u.
X25519_SCALAR = "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"
X25519_U_IN = "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"
X25519_U_OUT = "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"


def test_montgomery_u_of_the_base_point_is_nine() -> None:
    # RFC 7748 s4.1: Curve25519's base point u = 9 is the birational image of Ed25519's B.
    assert group.montgomery_u(group.BASE_POINT) == (9).to_bytes(32, "little")


@settings(max_examples=30, deadline=None)
@given(s=scalar_ints)
def test_montgomery_u_is_the_birational_map(s: int) -> None:
    point = group.point_base_mul(enc(s))
    assert group.montgomery_u(point) == montgomery_u_reference(point)


@pytest.mark.parametrize("point_hex", SMALL_ORDER_POINTS)
def test_montgomery_u_refuses_small_order_and_non_canonical_points(point_hex: str) -> None:
    with pytest.raises(group.InvalidPoint):
        group.montgomery_u(bytes.fromhex(point_hex))


def test_x25519_key_agreement_known_answer() -> None:
    k = bytes.fromhex(X25519_SCALAR)
    ephemeral_point, shared_u = group._key_agreement_x25519(k, bytes.fromhex(X25519_U_IN))
    assert shared_u.hex() == X25519_U_OUT
    # R is the same clamped k times B, here computed from the reduced integer instead.
    assert ephemeral_point == group.point_base_mul(enc(clamped(k)))


@settings(max_examples=30, deadline=None)
@given(x=scalar_ints)
def test_x25519_key_agreement_gives_what_x_times_r_gives(x: int) -> None:
    # What the custodians produce, xR, converted to u, is the sealer's secret u(kX).
    public_point = group.point_base_mul(enc(x))
    ephemeral_point, shared_u = group.ephemeral_key_agreement_x25519(
        group.montgomery_u(public_point)
    )
    group.point_validate(ephemeral_point)
    assert shared_u == montgomery_u_reference(group.point_mul(ephemeral_point, enc(x)))


def test_x25519_key_agreement_draws_a_fresh_scalar_each_time() -> None:
    public_u = group.montgomery_u(group.point_base_mul(group.scalar_random()))
    first = group.ephemeral_key_agreement_x25519(public_u)
    assert group.ephemeral_key_agreement_x25519(public_u)[0] != first[0]


# Small-order u-coordinates (RFC 7748 s6.1 warns of them): 0 (order 2), 1 (order 4), an
# order-8 point, and p - 1.
@pytest.mark.parametrize("u", [
    0, 1, 325606250916557431795983626356110631294008115727848805560023387167927233504, P - 1,
])
def test_x25519_key_agreement_refuses_a_small_order_public_u(u: int) -> None:
    with pytest.raises(group.InvalidPoint):
        group.ephemeral_key_agreement_x25519(u.to_bytes(32, "little"))
