"""C2SP signed-note: the spec's example, Go's sumdb/note test vectors, and properties."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto.errors import CryptoError
from escrow.crypto.note import (
    MAX_SIGNATURES,
    AmbiguousVerifierError,
    Note,
    NoteError,
    NoteFormatError,
    NoteKeyError,
    NoteSignature,
    NoteSignatureError,
    Signer,
    UnknownVerifierError,
    Verifier,
    key_id,
    key_name_is_valid,
    note_open,
    note_sign,
    signer_key_generate,
    signer_parse,
    verifier_key_encode,
    verifier_parse,
)

# C2SP signed-note, "Example".
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n"
    "\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3"
    "mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()

# golang.org/x/mod/sumdb/note, note_test.go.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_B64 = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
ENOCH_B64 = (
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
)
PETER_SIG = f"\u2014 PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"\u2014 EnochRoot {ENOCH_B64}\n"


def sig(name: str, keyid: int, b64: str) -> NoteSignature:
    return NoteSignature(name, keyid, base64.b64decode(b64)[4:])


PETER = sig("PeterNeumann", 0xC74F20A3, PETER_B64)
ENOCH = sig("EnochRoot", 0xAF0CFE78, ENOCH_B64)


def test_errors_derive_from_crypto_error() -> None:
    for error in (NoteKeyError, NoteFormatError, NoteSignatureError, UnknownVerifierError):
        assert issubclass(error, NoteError)
    assert issubclass(AmbiguousVerifierError, NoteKeyError)
    assert issubclass(NoteError, CryptoError)


def test_spec_example_verifies() -> None:
    verifier = verifier_parse(SPEC_VKEY)
    assert (verifier.name, verifier.key_id) == ("example.com/foo", 0x530D903A)
    note = note_open(message=SPEC_NOTE, verifiers=[verifier])
    assert note.text == "This is an example message.\n"
    assert [(s.name, s.key_id) for s in note.signatures] == [("example.com/foo", 0x530D903A)]
    assert note.unverified_signatures == ()


def test_key_id_is_the_spec_hash() -> None:
    verifier = verifier_parse(PETER_VKEY)
    typed = b"\x01" + verifier.public_key
    assert key_id(name="PeterNeumann", key=typed) == 0xC74F20A3
    assert verifier.vkey == PETER_VKEY
    assert verifier_key_encode(name="PeterNeumann", public_key=verifier.public_key) == PETER_VKEY


def test_go_signer_key_matches_its_verifier_key() -> None:
    signer = signer_parse(PETER_SKEY)
    assert (signer.name, signer.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert signer.verifier == verifier_parse(PETER_VKEY)
    assert "PRIVATE" not in repr(signer)
    assert "private_key" not in repr(signer)


def test_sign_reproduces_go_signature() -> None:
    # Ed25519 is deterministic, so Go's exact bytes come out.
    message = note_sign(text=TEXT, signers=[signer_parse(PETER_SKEY)])
    assert message == (TEXT + "\n" + PETER_SIG).encode()


def test_sign_replaces_an_existing_signature_by_the_same_key() -> None:
    stale = NoteSignature("PeterNeumann", 0xC74F20A3, b"\x00" * 64)
    message = note_sign(text=TEXT, signers=[signer_parse(PETER_SKEY)], signatures=[stale])
    assert message == (TEXT + "\n" + PETER_SIG).encode()


def test_cosigning_keeps_the_existing_signature_first() -> None:
    enoch_skey, enoch_vkey = signer_key_generate(name="EnochRoot")
    first = note_open(
        message=note_sign(text=TEXT, signers=[signer_parse(PETER_SKEY)]),
        verifiers=[verifier_parse(PETER_VKEY)],
    )
    message = note_sign(
        text=first.text, signers=[signer_parse(enoch_skey)], signatures=first.signatures
    )
    assert message.startswith((TEXT + "\n" + PETER_SIG).encode())
    both = note_open(
        message=message, verifiers=[verifier_parse(PETER_VKEY), verifier_parse(enoch_vkey)]
    )
    assert [s.name for s in both.signatures] == ["PeterNeumann", "EnochRoot"]


@pytest.mark.parametrize("text", ["abc", "", "no newline at the end", "a\x01b\n", "tab\there\n"])
def test_sign_rejects_malformed_text(text: str) -> None:
    with pytest.raises(NoteFormatError):
        note_sign(text=text, signers=[signer_parse(PETER_SKEY)])


def test_sign_rejects_bad_existing_signature_names() -> None:
    with pytest.raises(NoteFormatError):
        note_sign(text=TEXT, signers=[], signatures=[NoteSignature("a+b", 1, b"\x00")])


def test_open_one_verified_one_unknown() -> None:
    note = note_open(
        message=(TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(),
        verifiers=[verifier_parse(PETER_VKEY)],
    )
    assert note == Note(text=TEXT, signatures=(PETER,), unverified_signatures=(ENOCH,))


def test_open_both_verified() -> None:
    note = note_open(
        message=(TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(),
        verifiers=[verifier_parse(PETER_VKEY), verifier_parse(ENOCH_VKEY)],
    )
    assert note.signatures == (PETER, ENOCH)
    assert note.unverified_signatures == ()


def test_open_with_no_known_key_is_rejected_but_shows_the_note() -> None:
    with pytest.raises(UnknownVerifierError) as caught:
        note_open(message=(TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), verifiers=[])
    assert caught.value.note.signatures == ()
    assert caught.value.note.unverified_signatures == (PETER, ENOCH)


def test_open_with_an_ambiguous_verifier() -> None:
    enoch, peter = verifier_parse(ENOCH_VKEY), verifier_parse(PETER_VKEY)
    with pytest.raises(AmbiguousVerifierError):
        note_open(message=(TEXT + "\n" + ENOCH_SIG).encode(), verifiers=[enoch, peter, enoch])
    # An ambiguity that no signature touches is harmless.
    note_open(message=(TEXT + "\n" + PETER_SIG).encode(), verifiers=[enoch, peter, enoch])


def test_open_rejects_more_than_the_signature_limit() -> None:
    message = (TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1)).encode()
    for verifiers in ([verifier_parse(PETER_VKEY)], []):
        with pytest.raises(NoteFormatError):
            note_open(message=message, verifiers=verifiers)
    assert MAX_SIGNATURES >= 16  # C2SP signed-note: MUST accept at least 16


def test_open_rejects_a_bad_signature_from_a_known_key() -> None:
    mangled = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteSignatureError):
        note_open(message=(TEXT + "\n" + mangled).encode(), verifiers=[verifier_parse(PETER_VKEY)])


def test_open_drops_repeated_signatures() -> None:
    mangled_enoch = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    enoch_abcd = sig("EnochRoot", 0xAF0CFE78, mangled_enoch[len("\u2014 EnochRoot ") : -1])
    note = note_open(
        message=(
            TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + mangled_enoch
        ).encode(),
        verifiers=[verifier_parse(PETER_VKEY)],
    )
    assert note.signatures == (PETER,)
    assert note.unverified_signatures == (ENOCH, enoch_abcd)


@pytest.mark.parametrize(
    "message",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + "\u2014 Bad Name " + PETER_B64 + "\n",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + "- PeterNeumann " + PETER_B64 + "\n",  # hyphen, not em dash
        TEXT + "\n" + "\u2014 PeterNeumann\n",
        TEXT + "\n" + "\u2014 PeterNeumann \n",
        TEXT + "\n" + "\u2014 PeterNeumann AAAA\n",  # too short to hold a key ID and more
        TEXT + "\n" + "\u2014 PeterNeumann " + PETER_B64[:-1] + "\n",
        TEXT + "\n" + "\u2014 Peter+Neumann " + PETER_B64 + "\n",
        TEXT + "\n" + PETER_SIG + "\n",
        # The last base64 digit's unused bits set: same bytes, non-canonical spelling.
        TEXT + "\n" + PETER_SIG.replace("nAM=", "nAN="),
        TEXT + "\r\n" + PETER_SIG,
    ],
)
def test_open_rejects_malformed_notes(message: str) -> None:
    with pytest.raises(NoteFormatError):
        note_open(message=message.encode(), verifiers=[verifier_parse(PETER_VKEY)])


def test_open_rejects_invalid_utf8() -> None:
    with pytest.raises(NoteFormatError):
        note_open(
            message=b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),
            verifiers=[verifier_parse(PETER_VKEY)],
        )


def test_text_may_contain_blank_lines() -> None:
    signer = signer_parse(PETER_SKEY)
    text = "one\n\ntwo\n\n"
    note = note_open(message=note_sign(text=text, signers=[signer]), verifiers=[signer.verifier])
    assert note.text == text


def mangled(key: str) -> list[str]:
    """Every proper substring of `key` and every one-character increment of it."""
    out = [key[i:j] for i in range(len(key) + 1) for j in range(i + 1, len(key) + 1)]
    out.remove(key)
    out += [key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))]
    return out


def test_mangled_verifier_keys_are_rejected() -> None:
    verifier_parse(PETER_VKEY)
    for bad in [
        *mangled(PETER_VKEY),
        # Go's vectors: a wrong-length key and an unknown type, each with a matching key ID.
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        PETER_VKEY.replace("c74f20a3", "C74F20A3"),
    ]:
        with pytest.raises(NoteKeyError):
            verifier_parse(bad)


def test_mangled_signer_keys_are_rejected() -> None:
    for bad in mangled(PETER_SKEY):
        with pytest.raises(NoteKeyError):
            signer_parse(bad)
    with pytest.raises(NoteKeyError):
        signer_parse(PETER_VKEY)  # a public key is not a signer key


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("example.com/log", True),
        ("PeterNeumann", True),
        ("\u00e9t\u00e9.example", True),
        ("", False),
        ("a+b", False),
        ("a b", False),
        ("a\tb", False),
        ("a\u00a0b", False),  # no-break space is a Unicode space
        ("a\u2003b", False),
        ("a\u3000b", False),
        ("a\nb", False),
        ("a\x01b", False),
        ("a\ud800b", False),  # a lone surrogate is not UTF-8
    ],
)
def test_key_name_rules(name: str, ok: bool) -> None:
    assert key_name_is_valid(name) is ok
    if not ok:
        with pytest.raises(NoteKeyError):
            signer_key_generate(name=name)


def test_generated_keys_round_trip() -> None:
    skey, vkey = signer_key_generate(name="escrow.example/audit")
    assert skey.startswith("PRIVATE+KEY+escrow.example/audit+")
    signer, verifier = signer_parse(skey), verifier_parse(vkey)
    assert signer.verifier == verifier
    assert skey.split("+")[3] == vkey.split("+")[1] == f"{verifier.key_id:08x}"
    message = note_sign(text="hello\n", signers=[signer])
    assert note_open(message=message, verifiers=[verifier]).text == "hello\n"


def test_a_signature_by_another_key_with_the_same_name_is_unknown() -> None:
    # C2SP signed-note: names and IDs together identify a key; a stranger reusing a
    # name gets a different key ID, so the signature is ignored, not failed.
    stranger = Signer(name="PeterNeumann", private_key=Ed25519PrivateKey.generate())
    message = note_sign(text=TEXT, signers=[stranger, signer_parse(PETER_SKEY)])
    note = note_open(message=message, verifiers=[verifier_parse(PETER_VKEY)])
    assert [s.key_id for s in note.unverified_signatures] == [stranger.key_id]


def test_verifier_rejects_wrong_sized_keys() -> None:
    with pytest.raises(NoteKeyError):
        Verifier(name="x", public_key=b"\x00" * 31)
    with pytest.raises(NoteKeyError):
        verifier_key_encode(name="x", public_key=b"\x00" * 33)


@settings(max_examples=50, deadline=None)
@given(
    text=st.text(
        st.characters(exclude_categories=["Cs"], min_codepoint=0x20) | st.just("\n"),
        max_size=200,
    ).map(lambda t: t + "\n"),
    position=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
)
def test_any_text_round_trips_and_any_flipped_bit_is_caught(
    text: str, position: int, bit: int
) -> None:
    signer = signer_parse(PETER_SKEY)
    message = note_sign(text=text, signers=[signer])
    assert note_open(message=message, verifiers=[signer.verifier]).text == text
    tampered = bytearray(message)
    tampered[position % len(message)] ^= 1 << bit
    with pytest.raises(NoteError):
        note_open(message=bytes(tampered), verifiers=[signer.verifier])
