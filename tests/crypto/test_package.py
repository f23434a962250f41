"""Sealing disclosure packages: to the agency's X25519 key, or under a download secret."""

from __future__ import annotations

import base64

import nacl.public
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto.package import (
    PackageKeyError,
    PackageOpenError,
    content_commitment,
    content_salt_generate,
    download_secret_digest,
    download_secret_generate,
    download_secret_matches,
    package_open_as_recipient,
    package_open_with_secret,
    package_seal_to_recipient,
    package_seal_with_secret,
    recipient_key_parse,
    recipient_keypair_generate,
)

PACKAGE = b'{"reference":"DR-2026-000001","subjects":[]}'


class TestSealedBox:
    def test_round_trip_with_the_agency_key(self) -> None:
        private, public = recipient_keypair_generate()
        sealed = package_seal_to_recipient(recipient_public_key=public, plaintext=PACKAGE)
        assert PACKAGE not in sealed
        assert len(sealed) == len(PACKAGE) + 48  # ephemeral key + Poly1305 tag
        assert package_open_as_recipient(recipient_private_key=private, sealed=sealed) == PACKAGE

    def test_libsodium_opens_it_directly(self) -> None:
        # The agency needs libsodium (any binding), not our code.
        private = nacl.public.PrivateKey.generate()
        sealed = package_seal_to_recipient(
            recipient_public_key=bytes(private.public_key), plaintext=PACKAGE
        )
        assert nacl.public.SealedBox(private).decrypt(sealed) == PACKAGE

    def test_another_key_cannot_open(self) -> None:
        _, public = recipient_keypair_generate()
        other, _ = recipient_keypair_generate()
        sealed = package_seal_to_recipient(recipient_public_key=public, plaintext=PACKAGE)
        with pytest.raises(PackageOpenError):
            package_open_as_recipient(recipient_private_key=other, sealed=sealed)

    def test_altered_bytes_do_not_open(self) -> None:
        private, public = recipient_keypair_generate()
        sealed = bytearray(
            package_seal_to_recipient(recipient_public_key=public, plaintext=PACKAGE)
        )
        sealed[-1] ^= 1
        with pytest.raises(PackageOpenError):
            package_open_as_recipient(recipient_private_key=private, sealed=bytes(sealed))

    def test_sealing_twice_gives_different_ciphertexts(self) -> None:
        _, public = recipient_keypair_generate()
        first = package_seal_to_recipient(recipient_public_key=public, plaintext=PACKAGE)
        second = package_seal_to_recipient(recipient_public_key=public, plaintext=PACKAGE)
        assert first != second


class TestRecipientKeyParse:
    def test_accepts_base64_of_32_bytes(self) -> None:
        _, public = recipient_keypair_generate()
        assert recipient_key_parse(base64.b64encode(public).decode()) == public

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "not base64!",
            base64.b64encode(b"x" * 31).decode(),
            base64.b64encode(b"x" * 33).decode(),
            base64.b64encode(bytes(32)).decode(),
        ],
    )
    def test_rejects_anything_else(self, text: str) -> None:
        with pytest.raises(PackageKeyError):
            recipient_key_parse(text)


class TestDownloadSecret:
    AAD = b"request:0b1e"

    def test_round_trip(self) -> None:
        secret = download_secret_generate()
        sealed = package_seal_with_secret(secret=secret, plaintext=PACKAGE, aad=self.AAD)
        assert PACKAGE not in sealed
        assert package_open_with_secret(secret=secret, sealed=sealed, aad=self.AAD) == PACKAGE

    def test_wrong_secret_or_context_fails(self) -> None:
        secret = download_secret_generate()
        sealed = package_seal_with_secret(secret=secret, plaintext=PACKAGE, aad=self.AAD)
        with pytest.raises(PackageOpenError):
            package_open_with_secret(secret=download_secret_generate(), sealed=sealed, aad=self.AAD)
        with pytest.raises(PackageOpenError):
            package_open_with_secret(secret=secret, sealed=sealed, aad=b"request:other")
        with pytest.raises(PackageOpenError):
            package_open_with_secret(secret=secret, sealed=b"\x01short", aad=self.AAD)

    def test_digest_recognises_only_its_secret(self) -> None:
        secret = download_secret_generate()
        digest = download_secret_digest(secret)
        assert len(digest) == 32
        assert download_secret_matches(secret=secret, digest=digest)
        assert not download_secret_matches(secret=download_secret_generate(), digest=digest)


class TestContentCommitment:
    def test_binds_context_salt_and_content(self) -> None:
        salt = content_salt_generate()
        base = content_commitment(context=b"r1", salt=salt, content=PACKAGE)
        assert base == content_commitment(context=b"r1", salt=salt, content=PACKAGE)
        assert base != content_commitment(context=b"r2", salt=salt, content=PACKAGE)
        assert base != content_commitment(
            context=b"r1", salt=content_salt_generate(), content=PACKAGE
        )
        assert base != content_commitment(context=b"r1", salt=salt, content=PACKAGE + b" ")

    @settings(max_examples=50)
    @given(st.binary(max_size=64), st.binary(max_size=64))
    def test_no_two_splits_collide(self, a: bytes, b: bytes) -> None:
        salt = bytes(32)
        if a != b:
            assert content_commitment(context=a, salt=salt, content=b) != content_commitment(
                context=b, salt=salt, content=a
            )
