"""Per-field envelope encryption: one data key and one ephemeral point per field.

With a 1-of-1 ceremony the single share is the escrow secret x itself, which lets these
tests compute xR directly; threshold combination is tested in test_release.py.
"""

from __future__ import annotations

import dataclasses
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto import group
from escrow.crypto.envelope import (
    ENVELOPE_VERSION,
    FieldContext,
    FieldDecryptionError,
    InvalidFieldContext,
    SealedField,
    SealedFieldFormatError,
    _seal,
    field_open,
    field_seal,
    field_seal_many,
)
from escrow.crypto.errors import CryptoError
from escrow.crypto.threshold import CustodianShare, EscrowPublicKey, ceremony_run

SMALL_ORDER = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")

CONTEXT = FieldContext(
    record_id="enr_01HZX3", platform_id="plt_fediverse", field_name="legal_name", epoch=1
)


@cache
def escrow_key(epoch: int = 1) -> tuple[EscrowPublicKey, CustodianShare]:
    public_key, (share,) = ceremony_run(threshold=1, custodians=1, epoch=epoch)
    return public_key, share


def unwrap_point(sealed: SealedField, epoch: int = 1) -> bytes:
    _, share = escrow_key(epoch)
    return group.point_mul(sealed.ephemeral_point, share.scalar)


def seal(plaintext: bytes = b"Ada Lovelace", context: FieldContext = CONTEXT) -> SealedField:
    public_key, _ = escrow_key(context.epoch)
    return field_seal(public_key=public_key, context=context, plaintext=plaintext)


def open_(
    sealed: SealedField, context: FieldContext = CONTEXT, point: bytes | None = None
) -> bytes:
    public_key, _ = escrow_key(context.epoch)
    return field_open(
        sealed=sealed,
        context=context,
        shared_point=unwrap_point(sealed, context.epoch) if point is None else point,
        public_key=public_key,
    )


contexts = st.builds(
    FieldContext,
    record_id=st.text(min_size=1, max_size=20),
    platform_id=st.text(min_size=1, max_size=20),
    field_name=st.text(min_size=1, max_size=20),
    epoch=st.integers(0, 2**32 - 1),
)


@settings(max_examples=25, deadline=None)
@given(plaintext=st.binary(max_size=300))
def test_round_trip(plaintext: bytes) -> None:
    sealed = seal(plaintext)
    assert open_(SealedField.from_bytes(sealed.to_bytes())) == plaintext


def test_byte_layout() -> None:
    sealed = seal(b"x" * 10)
    raw = sealed.to_bytes()
    assert raw[0] == ENVELOPE_VERSION == 3
    assert raw[1:33] == sealed.ephemeral_point
    assert raw[33:93] == sealed.wrapped_key
    assert raw[93:] == sealed.ciphertext
    assert len(sealed.wrapped_key) == 12 + 32 + 16
    assert len(sealed.ciphertext) == 12 + 32 + 16  # 2 + 10 bytes padded to the first bucket
    assert len(raw) == 1 + 32 + 60 + 60


@pytest.mark.parametrize(("sizes", "padded_to"), [
    ((0, 1, 12, 30), 32), ((31, 40, 62), 64), ((63, 126), 128), ((127, 254), 256),
    ((255, 300, 510), 512), ((511,), 768),
])
def test_ciphertext_length_reveals_only_the_bucket(sizes: tuple[int, ...], padded_to: int
                                                   ) -> None:
    for size in sizes:
        sealed = seal(b"a" * size)
        assert len(sealed.ciphertext) == 12 + padded_to + 16
        assert open_(sealed) == b"a" * size


# Version 1 holds the bare plaintext (12 bytes), version 2 the padded one (32).
@pytest.mark.parametrize(("version", "body_bytes"), [(1, 12), (2, 32)])
def test_a_field_sealed_under_an_earlier_version_still_opens(version: int, body_bytes: int
                                                            ) -> None:
    public_key, _ = escrow_key(CONTEXT.epoch)
    old = _seal(public_key=public_key, aad=CONTEXT.aad(), plaintext=b"Ada Lovelace",
                version=version)
    raw = old.to_bytes()
    assert raw[0] == version
    assert len(old.ciphertext) == 12 + body_bytes + 16
    assert open_(SealedField.from_bytes(raw)) == b"Ada Lovelace"


@pytest.mark.parametrize(("sealed_as", "relabelled_as"), [(3, 1), (3, 2), (2, 1), (2, 3)])
def test_a_field_relabelled_as_another_version_does_not_open(sealed_as: int, relabelled_as: int
                                                             ) -> None:
    public_key, _ = escrow_key(CONTEXT.epoch)
    raw = bytearray(_seal(public_key=public_key, aad=CONTEXT.aad(), plaintext=b"Ada",
                          version=sealed_as).to_bytes())
    raw[0] = relabelled_as
    with pytest.raises(FieldDecryptionError):
        open_(SealedField.from_bytes(bytes(raw)))


def test_an_unknown_version_is_a_format_error() -> None:
    raw = bytearray(seal().to_bytes())
    for version in (0, 4, 255):
        raw[0] = version
        with pytest.raises(SealedFieldFormatError):
            SealedField.from_bytes(bytes(raw))


def test_version_three_is_the_documented_construction() -> None:
    """Opened step by step as docs/crypto.md writes it, with the u-coordinate taken by
    RFC 7748's formula in Python ints rather than by the code under test."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from escrow.crypto.kdf import context_info

    public_key, _ = escrow_key(CONTEXT.epoch)
    sealed = seal(b"Ada Lovelace")
    x_r = unwrap_point(sealed)
    y = int.from_bytes(x_r, "little") & ((1 << 255) - 1)
    p = 2**255 - 19
    shared_u = ((1 + y) * pow(1 - y, p - 2, p) % p).to_bytes(32, "little")
    aad = CONTEXT.aad()
    wrap_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=context_info(
        "field-wrap-x25519", sealed.ephemeral_point, public_key.public_point, aad,
    )).derive(shared_u)
    data_key = AESGCM(wrap_key).decrypt(sealed.wrapped_key[:12], sealed.wrapped_key[12:], aad)
    body = AESGCM(data_key).decrypt(sealed.ciphertext[:12], sealed.ciphertext[12:],
                                    aad + b"\x03")
    assert body == (12).to_bytes(2, "big") + b"Ada Lovelace" + bytes(32 - 14)


def test_every_seal_uses_a_fresh_point_key_and_nonce() -> None:
    a, b = seal(b"same"), seal(b"same")
    assert a.ephemeral_point != b.ephemeral_point
    assert a.wrapped_key != b.wrapped_key
    assert a.ciphertext != b.ciphertext


def test_releasing_one_field_never_opens_another() -> None:
    name = seal(b"Ada", CONTEXT)
    dob_context = dataclasses.replace(CONTEXT, field_name="date_of_birth")
    dob = seal(b"1815-12-10", dob_context)
    # The point released for the name field does not unwrap the date of birth.
    with pytest.raises(FieldDecryptionError):
        open_(dob, dob_context, point=unwrap_point(name))


@pytest.mark.parametrize(
    "changes",
    [
        {"record_id": "enr_01HZX4"},
        {"platform_id": "plt_other"},
        {"field_name": "email"},
        {"epoch": 2},
    ],
)
def test_changing_any_context_field_is_refused(changes: dict[str, object]) -> None:
    sealed = seal()
    other = dataclasses.replace(CONTEXT, **changes)  # type: ignore[arg-type]
    public_key, _ = escrow_key(1)
    with pytest.raises(FieldDecryptionError):
        field_open(
            sealed=sealed, context=other, shared_point=unwrap_point(sealed), public_key=public_key
        )


@settings(max_examples=40, deadline=None)
@given(a=contexts, b=contexts)
def test_aad_is_injective(a: FieldContext, b: FieldContext) -> None:
    assert (a.aad() == b.aad()) == (a == b)


def test_aad_length_prefixes_stop_boundary_shifts() -> None:
    a = FieldContext(record_id="ab", platform_id="c", field_name="f", epoch=1)
    b = FieldContext(record_id="a", platform_id="bc", field_name="f", epoch=1)
    assert a.aad() != b.aad()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"record_id": ""},
        {"platform_id": ""},
        {"field_name": ""},
        {"epoch": -1},
        {"epoch": 2**32},
        {"epoch": True},
        {"record_id": b"bytes"},
    ],
)
def test_context_rejects_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidFieldContext):
        dataclasses.replace(CONTEXT, **kwargs)  # type: ignore[arg-type]


def test_seal_refuses_context_for_another_epoch() -> None:
    public_key, _ = escrow_key(1)
    with pytest.raises(InvalidFieldContext):
        field_seal(
            public_key=public_key, context=dataclasses.replace(CONTEXT, epoch=2), plaintext=b"x"
        )


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_any_flipped_byte_is_refused(data: st.DataObject) -> None:
    original = seal(b"Ada Lovelace")
    raw = bytearray(original.to_bytes())
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] ^= data.draw(st.integers(1, 255))
    try:
        tampered = SealedField.from_bytes(bytes(raw))
    except SealedFieldFormatError:
        assert position < 33  # only the version byte and the point are parsed
        return
    # Neither the point released for the original R nor x times the altered R' opens it.
    for point in {unwrap_point(original), unwrap_point(tampered)}:
        with pytest.raises(FieldDecryptionError):
            open_(tampered, point=point)


@pytest.mark.parametrize("region", ["wrapped_key", "ciphertext"])
@pytest.mark.parametrize("where", [0, 12, -1])
def test_flipped_wrapped_key_or_ciphertext_bit_is_refused(region: str, where: int) -> None:
    sealed = seal()
    blob = bytearray(getattr(sealed, region))
    blob[where] ^= 0x01
    with pytest.raises(FieldDecryptionError):
        open_(dataclasses.replace(sealed, **{region: bytes(blob)}))


def test_wrong_or_invalid_shared_point_is_refused() -> None:
    sealed = seal()
    for point in (group.point_base_mul(group.scalar_random()), SMALL_ORDER, b"\x00" * 31):
        with pytest.raises(FieldDecryptionError):
            open_(sealed, point=point)


def test_field_moved_to_another_row_is_refused() -> None:
    other_row = dataclasses.replace(CONTEXT, record_id="enr_other")
    sealed = seal(b"Ada", other_row)
    with pytest.raises(FieldDecryptionError):
        open_(sealed, CONTEXT)


def test_opening_with_another_epochs_key_is_refused() -> None:
    sealed = seal()
    other_key, _ = escrow_key(2)
    with pytest.raises(FieldDecryptionError):
        field_open(
            sealed=sealed, context=CONTEXT, shared_point=unwrap_point(sealed), public_key=other_key
        )


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x01",
        b"\x02" + bytes(200),
        b"\x01" + group.BASE_POINT + bytes(60 + 27),
    ],
)
def test_from_bytes_rejects_malformed_input(raw: bytes) -> None:
    with pytest.raises(SealedFieldFormatError):
        SealedField.from_bytes(raw)


def test_from_bytes_rejects_small_order_ephemeral_point() -> None:
    raw = bytearray(seal().to_bytes())
    raw[1:33] = SMALL_ORDER
    with pytest.raises(SealedFieldFormatError):
        SealedField.from_bytes(bytes(raw))


def test_sealed_field_rejects_wrong_lengths() -> None:
    sealed = seal()
    with pytest.raises(SealedFieldFormatError):
        dataclasses.replace(sealed, wrapped_key=sealed.wrapped_key[:-1])
    with pytest.raises(SealedFieldFormatError):
        dataclasses.replace(sealed, ephemeral_point=sealed.ephemeral_point + b"\x00")
    with pytest.raises(SealedFieldFormatError):
        dataclasses.replace(sealed, ciphertext=bytes(27))


def test_seal_many_matches_seal() -> None:
    public_key, _ = escrow_key(1)
    fields = [
        (dataclasses.replace(CONTEXT, field_name=name), value)
        for name, value in [("legal_name", b"Ada"), ("email", b"ada@example.org")]
    ]
    sealed = field_seal_many(public_key=public_key, fields=fields)
    assert len(sealed) == 2
    for (context, value), item in zip(fields, sealed, strict=True):
        assert open_(item, context) == value
    assert sealed[0].ephemeral_point != sealed[1].ephemeral_point


def test_errors_derive_from_crypto_error() -> None:
    for exc in (FieldDecryptionError, InvalidFieldContext, SealedFieldFormatError):
        assert issubclass(exc, CryptoError)


def test_point_commitment_binds_point_and_context() -> None:
    from escrow.crypto import group
    from escrow.crypto.envelope import FieldContext, point_commitment

    base = FieldContext(record_id="r1", platform_id="p1", field_name="email", epoch=1)
    point = group.point_base_mul(group.scalar_random())
    other_point = group.point_base_mul(group.scalar_random())
    reference = point_commitment(context=base, ephemeral_point=point)
    assert len(reference) == 16
    assert point_commitment(context=base, ephemeral_point=point) == reference
    assert point_commitment(context=base, ephemeral_point=other_point) != reference
    for changed in (
        FieldContext(record_id="r2", platform_id="p1", field_name="email", epoch=1),
        FieldContext(record_id="r1", platform_id="p2", field_name="email", epoch=1),
        FieldContext(record_id="r1", platform_id="p1", field_name="phone", epoch=1),
        FieldContext(record_id="r1", platform_id="p1", field_name="email", epoch=2),
    ):
        assert point_commitment(context=changed, ephemeral_point=point) != reference
