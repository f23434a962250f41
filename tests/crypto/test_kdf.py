"""HKDF-SHA256 known answers (RFC 5869 Appendix A) and the injectivity of context labels."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from escrow.crypto.kdf import DOMAIN_PREFIX, context_info, hkdf_sha256

# RFC 5869 Appendix A.1: basic test case with SHA-256.
CASE_1_IKM = bytes.fromhex("0b" * 22)
CASE_1_SALT = bytes.fromhex("000102030405060708090a0b0c")
CASE_1_INFO = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9")
CASE_1_OKM = bytes.fromhex(
    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
)

# RFC 5869 Appendix A.2: longer inputs and outputs (80-octet IKM, salt and info; L = 82).
CASE_2_IKM = bytes(range(0x00, 0x50))
CASE_2_SALT = bytes(range(0x60, 0xB0))
CASE_2_INFO = bytes(range(0xB0, 0x100))
CASE_2_OKM = bytes.fromhex(
    "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
    "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
    "cc30c58179ec3e87c14c01d5c1f3434f1d87"
)

# RFC 5869 Appendix A.3: zero-length salt and info.
CASE_3_IKM = bytes.fromhex("0b" * 22)
CASE_3_OKM = bytes.fromhex(
    "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
)


def test_hkdf_rfc5869_case_1_basic() -> None:
    okm = hkdf_sha256(ikm=CASE_1_IKM, salt=CASE_1_SALT, info=CASE_1_INFO, length=42)
    assert okm == CASE_1_OKM


def test_hkdf_rfc5869_case_2_long_inputs() -> None:
    okm = hkdf_sha256(ikm=CASE_2_IKM, salt=CASE_2_SALT, info=CASE_2_INFO, length=82)
    assert okm == CASE_2_OKM


def test_hkdf_rfc5869_case_3_empty_salt_and_info() -> None:
    okm = hkdf_sha256(ikm=CASE_3_IKM, salt=b"", info=b"", length=42)
    assert okm == CASE_3_OKM


def test_hkdf_absent_salt_equals_empty_salt() -> None:
    # RFC 5869 s2.2: an absent salt is HashLen zero octets, which HMAC treats like an empty key;
    # callers passing None (as the platform-key derivation does) get the RFC's behaviour.
    okm = hkdf_sha256(ikm=CASE_3_IKM, salt=None, info=b"", length=42)
    assert okm == CASE_3_OKM


def test_context_info_layout_is_domain_label_and_length_prefixed_parts() -> None:
    assert context_info("platform-key", "pseudonym", b"\x00\xff") == (
        DOMAIN_PREFIX + b"platform-key" + b"\x00\x00\x00\x09pseudonym" + b"\x00\x00\x00\x02\x00\xff"
    )


def test_context_info_string_part_is_its_utf8_bytes() -> None:
    assert context_info("label", "café") == context_info("label", "café".encode())


@given(
    label=st.sampled_from(["platform-key", "blind-index", "wrap"]),
    first=st.lists(st.binary(max_size=12), max_size=5),
    second=st.lists(st.binary(max_size=12), max_size=5),
)
def test_context_info_is_injective_for_distinct_part_lists(
    label: str, first: list[bytes], second: list[bytes]
) -> None:
    if first != second:
        assert context_info(label, *first) != context_info(label, *second)
    else:
        assert context_info(label, *first) == context_info(label, *second)


def test_context_info_separates_the_classic_concatenation_ambiguity() -> None:
    assert context_info("label", "ab", "c") != context_info("label", "a", "bc")
    assert context_info("label", "abc") != context_info("label", "ab", "c")
    assert context_info("label", "") != context_info("label")
