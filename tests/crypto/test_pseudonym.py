"""Pseudonyms: known answers, the check symbol, typo detection and cross-platform unlinkability."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto.errors import CryptoError
from escrow.crypto.pseudonym import (
    PSEUDONYM_CANONICAL_RE,
    InvalidPlatformId,
    InvalidPlatformKey,
    InvalidPseudonym,
    InvalidRecordId,
    ServiceSecretTooShort,
    UnknownKeyPurpose,
    platform_key_derive,
    pseudonym_derive,
    pseudonym_parse,
)

SERVICE_SECRET = bytes(range(32))
RECORD_ID = uuid.UUID("6f1c2b7e-3d4a-4e5f-8a9b-0c1d2e3f4a5b").bytes

# Regression anchors: if either changes, every pseudonym already handed to a platform (and
# quoted in warrants) silently stops resolving. Change them only with a migration plan.
KNOWN_PLATFORM_KEY_HEX = "d382838ed207635e2fbe65f1cb998086bba4017d7ee010270a4639cd860e22cb"
KNOWN_PSEUDONYM = "PSN-HPBR-P9MV-TWTY-RFG0-*"

SYMBOLS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_ONLY_SYMBOLS = "*~$=U"
ALIASES = {"0": "Oo", "1": "IiLl"}
# Characters a person might type by mistake that are never valid anywhere in a pseudonym.
FOREIGN_CHARACTERS = "!#%&+/:;?@_.,'\"()[]{}<>|\\^`"

platform_keys = st.binary(min_size=32, max_size=32)
record_ids = st.binary(min_size=1, max_size=32)


def crockford_from_rfc4648(data: bytes) -> str:
    """An independent encoder: RFC 4648 base32, re-lettered into Crockford's alphabet."""
    rfc4648 = base64.b32encode(data).decode("ascii")
    return rfc4648.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", SYMBOLS))


def symbols_of(canonical: str) -> str:
    return canonical.removeprefix("PSN-").replace("-", "")


# --- known answers ------------------------------------------------------------------------


def test_platform_key_known_answer() -> None:
    key = platform_key_derive(
        service_secret=SERVICE_SECRET, platform_id="platform-a", purpose="pseudonym"
    )
    assert key.hex() == KNOWN_PLATFORM_KEY_HEX


def test_platform_key_matches_an_independent_hkdf_computation() -> None:
    # The info string spelled out byte by byte, so a change to the label or the part order shows.
    info = b"identity-escrow/v1/platform-key" + b"\x00\x00\x00\x09pseudonym"
    info += b"\x00\x00\x00\x0aplatform-a"
    expected = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
        SERVICE_SECRET
    )
    assert (
        platform_key_derive(
            service_secret=SERVICE_SECRET, platform_id="platform-a", purpose="pseudonym"
        )
        == expected
    )


def test_pseudonym_known_answer() -> None:
    key = bytes.fromhex(KNOWN_PLATFORM_KEY_HEX)
    assert pseudonym_derive(platform_key=key, record_id=RECORD_ID) == KNOWN_PSEUDONYM


def test_pseudonym_matches_an_independent_hmac_and_base32_computation() -> None:
    key = bytes.fromhex(KNOWN_PLATFORM_KEY_HEX)
    truncated = hmac.new(key, RECORD_ID, hashlib.sha256).digest()[:10]
    body = crockford_from_rfc4648(truncated)
    check = (SYMBOLS + CHECK_ONLY_SYMBOLS)[int.from_bytes(truncated, "big") % 37]
    expected = "PSN-" + "-".join(body[i : i + 4] for i in range(0, 16, 4)) + "-" + check
    assert pseudonym_derive(platform_key=key, record_id=RECORD_ID) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        # value 1 -> 1 mod 37 = 1 -> "1"
        ("PSN-0000-0000-0000-0001-1", "smallest non-zero value"),
        # "10" is 1*32 + 0 = 32 -> 32 mod 37 = 32 -> "*", the first check-only symbol
        ("PSN-0000-0000-0000-0010-*", "first check-only symbol"),
        # "14" is 1*32 + 4 = 36 -> "U", the last check-only symbol
        ("PSN-0000-0000-0000-0014-U", "last check-only symbol"),
        # "15" is 1*32 + 5 = 37 -> 0
        ("PSN-0000-0000-0000-0015-0", "wraps to zero"),
        # sixteen Zs are 2^80 - 1. 2^36 = 1 (mod 37) by Fermat, so 2^80 = 2^8 = 256 = 34 and
        # 2^80 - 1 = 33 (mod 37): symbol 33 is "~".
        ("PSN-ZZZZ-ZZZZ-ZZZZ-ZZZZ-~", "largest value"),
    ],
)
def test_check_symbol_computed_by_hand(text: str, why: str) -> None:
    assert pseudonym_parse(text) == text, why


def test_wrong_hand_computed_check_symbol_is_rejected() -> None:
    with pytest.raises(InvalidPseudonym) as caught:
        pseudonym_parse("PSN-ZZZZ-ZZZZ-ZZZZ-ZZZZ-$")
    assert caught.value.reason == "checksum"


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        KNOWN_PSEUDONYM,
        KNOWN_PSEUDONYM.lower(),
        "  " + KNOWN_PSEUDONYM + "\n",
        KNOWN_PSEUDONYM.replace("-", ""),
        KNOWN_PSEUDONYM.replace("-", " "),
        KNOWN_PSEUDONYM.replace("-", "--"),
        KNOWN_PSEUDONYM.removeprefix("PSN-"),
        KNOWN_PSEUDONYM.replace("-", "\u2013"),  # en dash, as word processors "correct" it
        "".join(chr(ord(c) + 0xFEE0) if c != "-" else c for c in KNOWN_PSEUDONYM),  # fullwidth
    ],
)
def test_variants_of_the_known_pseudonym_parse_to_it(variant: str) -> None:
    assert pseudonym_parse(variant) == KNOWN_PSEUDONYM


def test_crockford_aliases_are_read_as_the_digits_they_look_like() -> None:
    assert pseudonym_parse("psn-oooo-oooo-oooo-oooi-l") == "PSN-0000-0000-0000-0001-1"
    assert pseudonym_parse("PSN-OOOO-OOOO-OOOO-OOLO-*") == "PSN-0000-0000-0000-0010-*"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "length"),
        ("PSN", "length"),
        ("PSN-0000-0000-0000-0001", "length"),
        ("PSN-0000-0000-0000-0001-1-1", "length"),
        ("X" * 10_000, "length"),
        ("PSX-0000-0000-0000-0001-1", "prefix"),
        ("PSN-0000-0000-0000-000U-1", "alphabet"),
        ("PSN-0000-0000-0000-00!1-1", "alphabet"),
        ("PSN-0000-0000-0000-0001-!", "alphabet"),
        ("PSN-0000-0000-0000-0001-2", "checksum"),
    ],
)
def test_malformed_pseudonyms_are_rejected_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidPseudonym) as caught:
        pseudonym_parse(text)
    assert caught.value.reason == reason


def test_non_string_input_is_rejected() -> None:
    with pytest.raises(InvalidPseudonym) as caught:
        pseudonym_parse(b"PSN-0000-0000-0000-0001-1")  # type: ignore[arg-type]
    assert caught.value.reason == "type"


def test_rejection_never_echoes_the_input() -> None:
    # Whatever a user pasted may be personal data (a name typed into the wrong box); it must not
    # reach logs through an exception message.
    canary = "PSN-JANE-DOE0-1985-0407-Q"
    with pytest.raises(InvalidPseudonym) as caught:
        pseudonym_parse(canary)
    rendered = str(caught.value) + repr(caught.value) + repr(caught.value.args)
    assert "JANE" not in rendered.upper()
    assert "1985" not in rendered


def test_invalid_pseudonym_is_a_crypto_error() -> None:
    assert issubclass(InvalidPseudonym, CryptoError)


# --- properties ---------------------------------------------------------------------------


@given(platform_key=platform_keys, record_id=record_ids)
def test_parse_round_trips_derive(platform_key: bytes, record_id: bytes) -> None:
    pseudonym = pseudonym_derive(platform_key=platform_key, record_id=record_id)
    assert re.fullmatch(PSEUDONYM_CANONICAL_RE, pseudonym)
    assert pseudonym_parse(pseudonym) == pseudonym


@st.composite
def typed_variants(draw: st.DrawFn, canonical: str) -> str:
    """The canonical form as a person might retype it: case, aliases, separators, spacing."""
    out = [draw(st.sampled_from(["", " ", "\t"]))]
    text = canonical if draw(st.booleans()) else canonical.removeprefix("PSN-")
    for ch in text:
        if ch == "-":
            out.append(draw(st.sampled_from(["-", "", " ", "--", " - ", "\u2010"])))
            continue
        choices = [ch, ch.lower(), *ALIASES.get(ch, "")]
        out.append(draw(st.sampled_from(choices)))
        if draw(st.integers(0, 9)) == 0:
            out.append(draw(st.sampled_from(["-", " "])))
    out.append(draw(st.sampled_from(["", " ", "\n"])))
    return "".join(out)


@given(data=st.data(), platform_key=platform_keys, record_id=record_ids)
def test_case_alias_and_separator_variations_parse_to_the_same_canonical_form(
    data: st.DataObject, platform_key: bytes, record_id: bytes
) -> None:
    canonical = pseudonym_derive(platform_key=platform_key, record_id=record_id)
    variant = data.draw(typed_variants(canonical))
    assert pseudonym_parse(variant) == canonical


def same_symbol(original: str, replacement: str) -> bool:
    return replacement.upper() == original or replacement in ALIASES.get(original, "")


@settings(max_examples=40)
@given(platform_key=platform_keys, record_id=record_ids)
def test_every_single_character_substitution_is_caught(
    platform_key: bytes, record_id: bytes
) -> None:
    canonical = pseudonym_derive(platform_key=platform_key, record_id=record_id)
    data_symbols = SYMBOLS + SYMBOLS.lower() + "OoIiLl"
    replacements = SYMBOLS + CHECK_ONLY_SYMBOLS + "OoIiLlu" + FOREIGN_CHARACTERS
    for position, original in enumerate(canonical):
        for replacement in replacements:
            mutated = canonical[:position] + replacement + canonical[position + 1 :]
            if same_symbol(original, replacement):
                assert pseudonym_parse(mutated) == canonical
                continue
            with pytest.raises(InvalidPseudonym) as caught:
                pseudonym_parse(mutated)
            in_symbols = position > len("PSN") and original != "-"
            if in_symbols and replacement in data_symbols:
                # The mod-37 check, not luck with the alphabet, is what catches these.
                assert caught.value.reason == "checksum"


@settings(max_examples=60)
@given(platform_key=platform_keys, record_id=record_ids)
def test_every_adjacent_transposition_is_caught(platform_key: bytes, record_id: bytes) -> None:
    canonical = pseudonym_derive(platform_key=platform_key, record_id=record_id)
    for position in range(len(canonical) - 1):
        left, right = canonical[position], canonical[position + 1]
        if left == right:
            continue
        swapped = canonical[:position] + right + left + canonical[position + 2 :]
        if "-" in (left, right):
            # Moving a separator changes the grouping, not the symbols: still the same pseudonym.
            assert pseudonym_parse(swapped) == canonical
            continue
        with pytest.raises(InvalidPseudonym):
            pseudonym_parse(swapped)


@settings(max_examples=60)
@given(platform_key=platform_keys, record_id=record_ids)
def test_every_adjacent_transposition_of_the_bare_symbols_is_caught(
    platform_key: bytes, record_id: bytes
) -> None:
    symbols = symbols_of(pseudonym_derive(platform_key=platform_key, record_id=record_id))
    for position in range(len(symbols) - 1):
        left, right = symbols[position], symbols[position + 1]
        if left == right:
            continue
        swapped = symbols[:position] + right + left + symbols[position + 2 :]
        with pytest.raises(InvalidPseudonym) as caught:
            pseudonym_parse(swapped)
        assert caught.value.reason in {"checksum", "alphabet"}


@given(
    service_secret=st.binary(min_size=32, max_size=64),
    platforms=st.lists(st.text(min_size=1, max_size=20), min_size=2, max_size=2, unique=True),
    record_id=record_ids,
)
def test_different_platforms_get_different_keys_and_pseudonyms(
    service_secret: bytes, platforms: list[str], record_id: bytes
) -> None:
    key_a, key_b = (
        platform_key_derive(service_secret=service_secret, platform_id=p, purpose="pseudonym")
        for p in platforms
    )
    assert key_a != key_b
    assert pseudonym_derive(platform_key=key_a, record_id=record_id) != pseudonym_derive(
        platform_key=key_b, record_id=record_id
    )


@given(service_secret=st.binary(min_size=32, max_size=64), platform_id=st.text(min_size=1))
def test_each_purpose_gets_its_own_key(service_secret: bytes, platform_id: str) -> None:
    keys = {
        platform_key_derive(service_secret=service_secret, platform_id=platform_id, purpose=p)
        for p in ("pseudonym", "blind-index")
    }
    assert len(keys) == 2


def test_pseudonyms_of_two_platforms_are_uncorrelated() -> None:
    # A scheme that leaked a per-platform offset (say value_b = value_a XOR k) would give a
    # constant difference; independent PRF outputs differ in about half their 80 bits, with no
    # fixed pattern. Deterministic inputs, so the bounds below never flake.
    key_a, key_b = (
        platform_key_derive(service_secret=SERVICE_SECRET, platform_id=p, purpose="pseudonym")
        for p in ("platform-a", "platform-b")
    )

    def value(key: bytes, record_id: bytes) -> int:
        return int.from_bytes(hmac.new(key, record_id, hashlib.sha256).digest()[:10], "big")

    record_ids_ = [uuid.UUID(int=n).bytes for n in range(400)]
    differences = []
    for record_id in record_ids_:
        pseudonym_a = pseudonym_derive(platform_key=key_a, record_id=record_id)
        pseudonym_b = pseudonym_derive(platform_key=key_b, record_id=record_id)
        assert pseudonym_a != pseudonym_b
        differences.append(value(key_a, record_id) ^ value(key_b, record_id))
    assert len(set(differences)) == len(differences)
    mean_distance = sum(bin(d).count("1") for d in differences) / len(differences)
    # Expected 40 with a standard error of about 0.22.
    assert 38.5 < mean_distance < 41.5
    per_bit_agreement = [
        sum(1 for d in differences if not (d >> bit) & 1) / len(differences) for bit in range(80)
    ]
    # Each bit agrees about half the time (standard error 0.025); no bit is tied across platforms.
    assert all(0.35 < share < 0.65 for share in per_bit_agreement)


# --- input validation ---------------------------------------------------------------------


def test_short_service_secret_is_refused() -> None:
    with pytest.raises(ServiceSecretTooShort):
        platform_key_derive(service_secret=b"x" * 31, platform_id="platform-a", purpose="pseudonym")


def test_unknown_purpose_is_refused() -> None:
    with pytest.raises(UnknownKeyPurpose):
        platform_key_derive(service_secret=SERVICE_SECRET, platform_id="p", purpose="pseudonyms")


def test_empty_platform_id_is_refused() -> None:
    with pytest.raises(InvalidPlatformId):
        platform_key_derive(service_secret=SERVICE_SECRET, platform_id="", purpose="pseudonym")


def test_short_platform_key_is_refused() -> None:
    with pytest.raises(InvalidPlatformKey):
        pseudonym_derive(platform_key=b"k" * 16, record_id=RECORD_ID)


def test_empty_record_id_is_refused() -> None:
    with pytest.raises(InvalidRecordId):
        pseudonym_derive(platform_key=bytes(32), record_id=b"")
