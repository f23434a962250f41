"""Base64 as the wire formats spell it: RFC 4648's test vectors, and what is refused."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escrow.crypto.encoding import b64decode, b64decode_canonical, b64encode

# RFC 4648 s10.
RFC4648_VECTORS = [
    (b"", ""),
    (b"f", "Zg=="),
    (b"fo", "Zm8="),
    (b"foo", "Zm9v"),
    (b"foob", "Zm9vYg=="),
    (b"fooba", "Zm9vYmE="),
    (b"foobar", "Zm9vYmFy"),
]


@pytest.mark.parametrize(("raw", "text"), RFC4648_VECTORS)
def test_rfc4648_vectors(raw: bytes, text: str) -> None:
    assert b64encode(raw) == text
    assert b64decode(text) == raw
    assert b64decode_canonical(text) == raw


@pytest.mark.parametrize(
    "text",
    [
        "Zm9v\n",  # a newline: the lenient decoder would skip it
        "Zm 9v",
        "Zm9v-_==",  # the URL-safe alphabet (RFC 4648 s5) is another format
        "Zg",  # padding left out
        "Zg===",
        "Zm9vY",
        "Zm9v\u00e9",  # not ASCII
    ],
)
def test_text_outside_the_alphabet_or_badly_padded_is_not_base64(text: str) -> None:
    assert b64decode(text) is None
    assert b64decode_canonical(text) is None


def test_non_canonical_padding_bits_decode_but_are_not_canonical() -> None:
    # "Zh==" has the same 6 significant bits as "Zg==" and low bits set: both mean b"f".
    assert b64decode("Zh==") == b"f"
    assert b64decode_canonical("Zh==") is None
    assert b64decode_canonical("Zg==") == b"f"


@given(st.binary(max_size=200))
def test_round_trip_and_agreement_with_the_standard_library(raw: bytes) -> None:
    text = b64encode(raw)
    assert text == base64.standard_b64encode(raw).decode("ascii")
    assert b64decode(text) == raw
    assert b64decode_canonical(text) == raw
