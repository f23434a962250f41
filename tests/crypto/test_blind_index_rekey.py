"""Re-keying a blind index under a newer secret version (the rotation's only primitive)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escrow.crypto.blind_index import (
    BLIND_INDEX_LENGTH,
    InvalidAttribute,
    InvalidIndexKey,
    blind_index_rekey,
)
from escrow.crypto.kdf import context_info

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))
digests = st.binary(min_size=BLIND_INDEX_LENGTH, max_size=BLIND_INDEX_LENGTH)


def test_rekey_is_the_truncated_hmac_of_the_labelled_old_index() -> None:
    old = bytes(16)
    expected = hmac.new(KEY_A, context_info("blind-index-rekey", old), hashlib.sha256)
    assert blind_index_rekey(key=KEY_A, digest=old) == expected.digest()[:16]


@given(digests, digests)
def test_rekey_keeps_equal_indexes_equal_and_distinct_ones_distinct(a: bytes, b: bytes) -> None:
    assert (blind_index_rekey(key=KEY_A, digest=a) == blind_index_rekey(key=KEY_A, digest=b)) == (
        a == b
    )


@given(digests)
def test_each_version_key_gives_its_own_index(digest: bytes) -> None:
    rekeyed = blind_index_rekey(key=KEY_A, digest=digest)
    assert len(rekeyed) == BLIND_INDEX_LENGTH
    assert rekeyed != blind_index_rekey(key=KEY_B, digest=digest)
    assert rekeyed != digest


def test_rekey_refuses_a_short_key_or_a_digest_of_the_wrong_length() -> None:
    with pytest.raises(InvalidIndexKey):
        blind_index_rekey(key=bytes(16), digest=bytes(16))
    with pytest.raises(InvalidAttribute):
        blind_index_rekey(key=KEY_A, digest=bytes(32))
