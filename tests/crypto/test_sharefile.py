"""Custodian share files: Argon2id + AES-256-GCM around one share, with the public key."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from escrow.crypto import sharefile
from escrow.crypto.errors import CryptoError
from escrow.crypto.sharefile import (
    ARGON2_DEFAULT,
    SHARE_FILE_FORMAT,
    Argon2Params,
    ShareFileFormatError,
    WeakPassphrase,
    WrongPassphrase,
    share_file_open,
    share_file_seal,
)
from escrow.crypto.threshold import (
    CustodianShare,
    EscrowPublicKey,
    ShareVerificationError,
    ceremony_run,
)

# Tests trade the KDF's cost away; the default parameters are checked separately.
CHEAP = Argon2Params(memory_kib=8, iterations=1, lanes=1)
PASSPHRASE = "correct horse battery staple"


@cache
def ceremony(epoch: int = 1) -> tuple[EscrowPublicKey, tuple[CustodianShare, ...]]:
    public_key, shares = ceremony_run(threshold=2, custodians=3, epoch=epoch)
    return public_key, tuple(shares)


@cache
def sealed_file(index: int = 2) -> bytes:
    public_key, shares = ceremony()
    return share_file_seal(
        share=shares[index - 1],
        public_key=public_key,
        custodian_label="bob (legal)",
        passphrase=PASSPHRASE,
        kdf_params=CHEAP,
    )


def as_json(data: bytes) -> dict[str, Any]:
    return json.loads(data)  # type: ignore[no-any-return]


def test_round_trip_returns_share_and_public_key() -> None:
    public_key, shares = ceremony()
    share, opened_key = share_file_open(data=sealed_file(), passphrase=PASSPHRASE)
    assert share == shares[1]
    assert opened_key == public_key


def test_file_layout_is_readable_and_holds_no_plain_share() -> None:
    public_key, shares = ceremony()
    data = sealed_file()
    doc = as_json(data)
    assert doc["format"] == SHARE_FILE_FORMAT == "identity-escrow-share/1"
    assert doc["custodian_label"] == "bob (legal)"
    assert (doc["epoch"], doc["index"]) == (1, 2)
    assert doc["public_key"] == public_key.to_dict()
    assert doc["public_key_fingerprint"] == public_key.fingerprint().hex()
    assert doc["kdf"]["algorithm"] == "argon2id"
    assert (doc["kdf"]["memory_kib"], doc["kdf"]["iterations"], doc["kdf"]["lanes"]) == (8, 1, 1)
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 16
    assert doc["cipher"]["algorithm"] == "aes-256-gcm"
    assert len(base64.b64decode(doc["cipher"]["nonce"])) == 12
    assert len(base64.b64decode(doc["cipher"]["ciphertext"])) == 32 + 16
    scalar = shares[1].scalar
    for encoding in (scalar.hex().encode(), base64.b64encode(scalar), scalar):
        assert encoding not in data


def test_two_seals_use_fresh_salt_and_nonce() -> None:
    public_key, shares = ceremony()
    again = share_file_seal(
        share=shares[1],
        public_key=public_key,
        custodian_label="bob (legal)",
        passphrase=PASSPHRASE,
        kdf_params=CHEAP,
    )
    assert as_json(again)["kdf"]["salt"] != as_json(sealed_file())["kdf"]["salt"]
    assert as_json(again)["cipher"]["nonce"] != as_json(sealed_file())["cipher"]["nonce"]


def test_wrong_passphrase_is_refused() -> None:
    with pytest.raises(WrongPassphrase):
        share_file_open(data=sealed_file(), passphrase=PASSPHRASE + "!")


def test_passphrase_is_unicode_normalised() -> None:
    public_key, shares = ceremony()
    composed, decomposed = "mot de passe d\u00e9j\u00e0 vu", "mot de passe de\u0301ja\u0300 vu"
    data = share_file_seal(
        share=shares[0],
        public_key=public_key,
        custodian_label="carol",
        passphrase=composed,
        kdf_params=CHEAP,
    )
    share, _ = share_file_open(data=data, passphrase=decomposed)
    assert share == shares[0]


@pytest.mark.parametrize("passphrase", ["", "short", " " * 11])
def test_weak_passphrase_is_refused_when_sealing(passphrase: str) -> None:
    public_key, shares = ceremony()
    with pytest.raises(WeakPassphrase):
        share_file_seal(
            share=shares[0],
            public_key=public_key,
            custodian_label="carol",
            passphrase=passphrase,
            kdf_params=CHEAP,
        )


def _edit(edit: Callable[[dict[str, Any]], None]) -> bytes:
    doc = as_json(sealed_file())
    edit(doc)
    return json.dumps(doc).encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _flip_b64(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[0] ^= 0x01
    return _b64(bytes(raw))


# Edits the AEAD catches: the passphrase cannot be told apart from tampering here.
SEALED_EDITS: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("ciphertext", lambda d: d["cipher"].update(ciphertext=_flip_b64(d["cipher"]["ciphertext"]))),
    ("nonce", lambda d: d["cipher"].update(nonce=_flip_b64(d["cipher"]["nonce"]))),
    ("salt", lambda d: d["kdf"].update(salt=_flip_b64(d["kdf"]["salt"]))),
    ("kdf iterations", lambda d: d["kdf"].update(iterations=2)),
    ("custodian label", lambda d: d.update(custodian_label="mallory")),
    ("index", lambda d: d.update(index=3)),
]


@pytest.mark.parametrize(("name", "edit"), SEALED_EDITS, ids=[e[0] for e in SEALED_EDITS])
def test_tampered_sealed_part_is_refused(name: str, edit: Callable[[dict[str, Any]], None]) -> None:
    with pytest.raises(WrongPassphrase):
        share_file_open(data=_edit(edit), passphrase=PASSPHRASE)


def test_public_key_swapped_for_another_ceremony_is_refused() -> None:
    other_key, _ = ceremony_run(threshold=2, custodians=3, epoch=1)

    def swap(d: dict[str, Any]) -> None:
        d["public_key"] = other_key.to_dict()
        d["public_key_fingerprint"] = other_key.fingerprint().hex()

    # The fingerprint is bound into the AAD, so a consistent swap still fails to decrypt.
    with pytest.raises(WrongPassphrase):
        share_file_open(data=_edit(swap), passphrase=PASSPHRASE)


def _format_edits() -> list[tuple[str, Callable[[dict[str, Any]], None]]]:
    def remove(key: str) -> Callable[[dict[str, Any]], None]:
        return lambda d: d.pop(key)

    return [
        ("format", lambda d: d.update(format="identity-escrow-share/2")),
        ("extra field", lambda d: d.update(comment="x")),
        ("missing kdf", remove("kdf")),
        ("missing cipher", remove("cipher")),
        ("epoch differs from key", lambda d: d.update(epoch=2)),
        ("index beyond custodians", lambda d: d.update(index=4)),
        ("index zero", lambda d: d.update(index=0)),
        ("bool epoch", lambda d: d.update(epoch=True)),
        ("fingerprint mismatch", lambda d: d.update(public_key_fingerprint="00" * 32)),
        ("public key invalid", lambda d: d["public_key"].update(threshold=9)),
        ("kdf algorithm", lambda d: d["kdf"].update(algorithm="scrypt")),
        ("cipher algorithm", lambda d: d["cipher"].update(algorithm="chacha20-poly1305")),
        ("memory bomb", lambda d: d["kdf"].update(memory_kib=2**40)),
        ("iterations bomb", lambda d: d["kdf"].update(iterations=10**9)),
        ("zero lanes", lambda d: d["kdf"].update(lanes=0)),
        ("bad base64", lambda d: d["cipher"].update(nonce="***")),
        ("short nonce", lambda d: d["cipher"].update(nonce=_b64(b"n" * 8))),
        ("short salt", lambda d: d["kdf"].update(salt=_b64(b"s" * 4))),
        ("label not text", lambda d: d.update(custodian_label=7)),
        (
            "ciphertext length",
            lambda d: d["cipher"].update(ciphertext=_b64(b"c" * 47)),
        ),
    ]


@pytest.mark.parametrize(("name", "edit"), _format_edits(), ids=[e[0] for e in _format_edits()])
def test_malformed_file_is_refused(name: str, edit: Callable[[dict[str, Any]], None]) -> None:
    with pytest.raises(ShareFileFormatError):
        share_file_open(data=_edit(edit), passphrase=PASSPHRASE)


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[]", b'{"format": "identity-escrow-share/1", "format": "x"}', b"\xff"],
)
def test_non_json_or_ambiguous_json_is_refused(data: bytes) -> None:
    with pytest.raises(ShareFileFormatError):
        share_file_open(data=data, passphrase=PASSPHRASE)


def test_oversized_file_is_refused_before_parsing() -> None:
    with pytest.raises(ShareFileFormatError):
        share_file_open(data=b" " * (sharefile.MAX_FILE_BYTES + 1), passphrase=PASSPHRASE)


def test_sealing_refuses_a_share_that_does_not_verify() -> None:
    _, shares = ceremony()
    other_key, _ = ceremony(epoch=7)
    with pytest.raises(ShareVerificationError):
        share_file_seal(
            share=shares[0],
            public_key=other_key,
            custodian_label="carol",
            passphrase=PASSPHRASE,
            kdf_params=CHEAP,
        )


def test_opening_runs_the_feldman_check(monkeypatch: pytest.MonkeyPatch) -> None:
    # A ceremony machine that wrote a bad share must be caught on the custodian's laptop.
    public_key, _ = ceremony()
    _, foreign_shares = ceremony_run(threshold=2, custodians=3, epoch=1)
    monkeypatch.setattr(sharefile, "share_verify", lambda **_: None)
    data = share_file_seal(
        share=foreign_shares[0],
        public_key=public_key,
        custodian_label="carol",
        passphrase=PASSPHRASE,
        kdf_params=CHEAP,
    )
    monkeypatch.undo()
    with pytest.raises(ShareVerificationError):
        share_file_open(data=data, passphrase=PASSPHRASE)


@pytest.mark.parametrize("label", ["", "x" * 201, "line\nbreak"])
def test_bad_custodian_label_is_refused(label: str) -> None:
    public_key, shares = ceremony()
    with pytest.raises(ShareFileFormatError):
        share_file_seal(
            share=shares[0],
            public_key=public_key,
            custodian_label=label,
            passphrase=PASSPHRASE,
            kdf_params=CHEAP,
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"memory_kib": 7, "iterations": 1, "lanes": 1},
        {"memory_kib": 64, "iterations": 0, "lanes": 1},
        {"memory_kib": 64, "iterations": 1, "lanes": 0},
        {"memory_kib": 2**40, "iterations": 1, "lanes": 1},
        {"memory_kib": 64, "iterations": True, "lanes": 1},
    ],
)
def test_argon2_params_are_bounded(kwargs: dict[str, int]) -> None:
    with pytest.raises(ShareFileFormatError):
        Argon2Params(**kwargs)


def test_default_kdf_params_follow_rfc9106_second_recommendation() -> None:
    assert (ARGON2_DEFAULT.memory_kib, ARGON2_DEFAULT.iterations, ARGON2_DEFAULT.lanes) == (
        64 * 1024,
        3,
        4,
    )


@pytest.mark.slow
def test_round_trip_with_default_kdf_params() -> None:
    public_key, shares = ceremony()
    data = share_file_seal(
        share=shares[2], public_key=public_key, custodian_label="dave", passphrase=PASSPHRASE
    )
    assert as_json(data)["kdf"]["memory_kib"] == 65536
    assert share_file_open(data=data, passphrase=PASSPHRASE)[0] == shares[2]


def test_errors_derive_from_crypto_error() -> None:
    for exc in (ShareFileFormatError, WeakPassphrase, WrongPassphrase):
        assert issubclass(exc, CryptoError)


# --- passphrase strength: zxcvbn, on top of the length rule ------------------------------


def _seal(passphrase: str, *, label: str = "carol") -> bytes:
    public_key, shares = ceremony()
    return share_file_seal(
        share=shares[0], public_key=public_key, custodian_label=label, passphrase=passphrase,
        kdf_params=CHEAP,
    )


@pytest.mark.parametrize(
    "passphrase", ["password1", "password1password1", "qwertyuiop123", "aaaaaaaaaaaaaaaa",
                   "iloveyou2024!", "P@ssw0rd12345"],
)
def test_weak_passphrase_is_refused_by_strength(passphrase: str) -> None:
    with pytest.raises(WeakPassphrase) as refused:
        _seal(passphrase)
    message = str(refused.value)
    assert f"{sharefile.PASSPHRASE_MIN_SCORE} of 4" in message
    # The custodian is told why, in words, and the passphrase never appears.
    assert passphrase.lower() not in message.lower()


def test_refusal_carries_zxcvbn_feedback() -> None:
    with pytest.raises(WeakPassphrase, match="very common password"):
        _seal("password1")


def test_refusal_does_not_echo_the_passphrase_even_in_feedback() -> None:
    # zxcvbn's feedback quotes patterns generically; a leaked passphrase would show here.
    with pytest.raises(WeakPassphrase) as refused:
        _seal("abcabcabcabcabc")
    assert "abcabcabcabcabc" not in str(refused.value)


@pytest.mark.parametrize("passphrase", [PASSPHRASE, "tangerine orbit fjord 47 cobalt"])
def test_strong_passphrase_is_accepted(passphrase: str) -> None:
    share, _ = share_file_open(data=_seal(passphrase), passphrase=passphrase)
    assert share == ceremony()[1][0]


def test_strong_random_passphrase_is_accepted() -> None:
    import secrets

    passphrase = secrets.token_urlsafe(16)
    assert share_file_open(data=_seal(passphrase), passphrase=passphrase)[1] == ceremony()[0]


def test_custodian_name_in_passphrase_is_penalised() -> None:
    # Strong enough for a stranger's file; not for Wilhelmina's, whose name an attacker
    # holding her share file reads in its label.
    sharefile.passphrase_check("Wilhelmina1979!")
    with pytest.raises(WeakPassphrase):
        _seal("Wilhelmina1979!", label="wilhelmina (custodian)")


def test_escrow_words_in_passphrase_are_penalised() -> None:
    sharefile.passphrase_check("escrowcustodian", context_words=())
    with pytest.raises(WeakPassphrase):
        _seal("escrowcustodian")


def test_reseal_changes_the_passphrase_and_keeps_share_and_label() -> None:
    new = "tangerine orbit fjord 47 cobalt"
    resealed = sharefile.share_file_reseal(
        data=sealed_file(), passphrase=PASSPHRASE, new_passphrase=new, kdf_params=CHEAP
    )
    assert share_file_open(data=resealed, passphrase=new) == share_file_open(
        data=sealed_file(), passphrase=PASSPHRASE
    )
    assert as_json(resealed)["custodian_label"] == "bob (legal)"
    with pytest.raises(WrongPassphrase):
        share_file_open(data=resealed, passphrase=PASSPHRASE)


def test_reseal_refuses_a_weak_new_passphrase() -> None:
    with pytest.raises(WeakPassphrase):
        sharefile.share_file_reseal(
            data=sealed_file(), passphrase=PASSPHRASE, new_passphrase="password1", kdf_params=CHEAP
        )


def test_reseal_needs_the_current_passphrase() -> None:
    with pytest.raises(WrongPassphrase):
        sharefile.share_file_reseal(
            data=sealed_file(), passphrase="not the passphrase at all",
            new_passphrase="tangerine orbit fjord 47 cobalt", kdf_params=CHEAP,
        )
