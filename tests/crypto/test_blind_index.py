"""Blind indexes: normalisation rules, keyed match keys, and what they must never do."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escrow.crypto.blind_index import (
    BLIND_INDEX_LENGTH,
    INDEX_KINDS,
    InvalidAttribute,
    InvalidIndexKey,
    UnknownIdentityField,
    UnknownIndexKind,
    blind_index,
    country_code_normalise,
    date_normalise,
    document_number_normalise,
    document_type_normalise,
    email_normalise,
    identity_match_keys,
    name_normalise,
    phone_normalise,
)
from escrow.crypto.errors import CryptoError
from escrow.crypto.pseudonym import platform_key_derive

SERVICE_SECRET = bytes(range(32))
INDEX_KEY = platform_key_derive(
    service_secret=SERVICE_SECRET, platform_id="platform-a", purpose="blind-index"
)
OTHER_PLATFORM_KEY = platform_key_derive(
    service_secret=SERVICE_SECRET, platform_id="platform-b", purpose="blind-index"
)

# A regression anchor: changing it orphans every stored index (no match for anyone enrolled
# before the change), and the service cannot recompute them: it cannot decrypt identities.
KNOWN_EMAIL_INDEX_HEX = "c98e3483ce7d14c08fce8da1a8c3a44e"

# Erin, a user enrolling on two platforms. (Fictional; the document number is not real.)
ERIN: dict[str, str | date | None] = {
    "given_name": "Erin",
    "family_name": "O'Connor-Ní Bhriain",
    "date_of_birth": date(1991, 4, 7),
    "email": "Erin.OConnor@example.ie",
    "phone": "+353 (0)87 123 4567",
    "document_type": "passport",
    "document_number": "pa-123 456.7",
    "document_country": "ie",
    "postal_address": "1 Main Street, Galway",
}

text_values = st.text(max_size=40)


def fullwidth(text: str) -> str:
    """The same text in the Unicode fullwidth forms East Asian keyboards produce."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def normalises_or_none(normalise: Any, value: Any) -> str | None:
    try:
        result: str = normalise(value=value)
    except InvalidAttribute:
        return None
    return result


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Erin", "erin"),
        ("  Mary   Ann  ", "mary ann"),
        ("O'Connor", "oconnor"),
        ("O\u2019Connor", "oconnor"),  # typographic apostrophe
        ("Smith-Jones", "smith jones"),
        ("Smith\u2010Jones", "smith jones"),  # Unicode hyphen
        ("St. John", "st john"),
        ("Ní Bhriain", "ní bhriain"),
        ("Ni\u0301 Bhriain", "ní bhriain"),  # i + combining acute composes to í
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),  # casefold, not lower()
        (fullwidth("ERIN"), "erin"),
        ("Er\u200bin", "erin"),  # zero-width space is invisible, so it cannot separate words
        ("Er\u00adin", "erin"),  # soft hyphen
        ("O\u00b4Connor", "oconnor"),  # acute accent as apostrophe: NFKC would make it a mark
        ("Jose\u200b\u0301", "josé"),  # deleting the invisible joins e to its accent
        ("Hawai\u02bbi", "hawaii"),  # okina
        ("José", "josé"),  # diacritics are kept: see docs/crypto-pseudonyms.md
        (fullwidth("O") + "\u2019" + fullwidth("Connor-N") + "í", "oconnor ní"),
        ("محمد", "محمد"),
        ("李 小龙", "李 小龙"),
    ],
)
def test_name_normalisation(raw: str, expected: str) -> None:
    assert name_normalise(value=raw) == expected


def test_diacritics_are_significant() -> None:
    assert name_normalise(value="José") != name_normalise(value="Jose")


@pytest.mark.parametrize("raw", ["", "   ", "'-.", "\u200b", "--"])
def test_name_without_letters_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidAttribute) as caught:
        name_normalise(value=raw)
    assert caught.value.reason == "empty"


@st.composite
def name_spellings(draw: st.DrawFn) -> tuple[str, str]:
    """Two renderings of one name that a person would read as the same."""
    words = draw(
        st.lists(
            st.text(
                alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzéíóúñçøåäöüßÉÍÓ"),
                min_size=1,
                max_size=8,
            ),
            min_size=1,
            max_size=3,
        )
    )
    base = " ".join(words)

    def variant(draw_: st.DrawFn) -> str:
        text = base
        if draw_(st.booleans()):
            text = text.upper()
        if draw_(st.booleans()):
            text = fullwidth(text)
        text = unicodedata.normalize(draw_(st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"])), text)
        spaces = draw_(st.sampled_from([" ", "  ", "\t", "\u00a0", "\u3000"]))
        text = text.replace(" ", spaces)
        return draw_(st.sampled_from(["", " ", "\n"])) + text + draw_(st.sampled_from(["", " "]))

    return variant(draw), variant(draw)


@given(spellings=name_spellings())
def test_equal_looking_names_give_the_same_index(spellings: tuple[str, str]) -> None:
    first, second = spellings
    assert name_normalise(value=first) == name_normalise(value=second)
    identities = [
        {"given_name": n, "family_name": "Doe", "date_of_birth": "1990-01-01"}
        for n in (first, second)
    ]
    keys = [identity_match_keys(key=INDEX_KEY, identity=i) for i in identities]
    assert keys[0] == keys[1]


# --- dates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (date(1991, 4, 7), "1991-04-07"),
        ("1991-04-07", "1991-04-07"),
        (" 1991-04-07\n", "1991-04-07"),
        (fullwidth("2000-02-29"), "2000-02-29"),  # 2000 is a leap year
    ],
)
def test_date_normalisation(raw: str | date, expected: str) -> None:
    assert date_normalise(value=raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("1991-02-30", "impossible-date"),
        ("1900-02-29", "impossible-date"),  # 1900 is not a leap year
        ("1991-13-01", "impossible-date"),
        ("1991-00-10", "impossible-date"),
        ("07/04/1991", "format"),  # ambiguous between day-first and month-first
        ("1991-4-7", "format"),
        ("19910407", "format"),
        ("1991-W14-7", "format"),  # ISO week dates are valid ISO 8601 but not accepted
        ("1991-04-07T00:00", "format"),
        ("", "format"),
    ],
)
def test_bad_dates_are_rejected(raw: str, reason: str) -> None:
    with pytest.raises(InvalidAttribute) as caught:
        date_normalise(value=raw)
    assert caught.value.reason == reason


def test_datetime_is_rejected_rather_than_truncated() -> None:
    # A timestamp's calendar day depends on its time zone; guessing would split one person.
    with pytest.raises(InvalidAttribute) as caught:
        date_normalise(value=datetime(1991, 4, 7, 23, 30))
    assert caught.value.reason == "type"


@given(day=st.dates())
def test_date_objects_and_iso_strings_agree(day: date) -> None:
    assert date_normalise(value=day) == date_normalise(value=day.isoformat()) == day.isoformat()


# --- email --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Erin.OConnor@Example.IE ", "erin.oconnor@example.ie"),
        ("erin.o.connor+signup@gmail.com", "erin.o.connor+signup@gmail.com"),
        (fullwidth("ERIN@EXAMPLE.IE"), "erin@example.ie"),
        ("Ünal@Bücher.example", "ünal@bücher.example"),
    ],
)
def test_email_normalisation(raw: str, expected: str) -> None:
    assert email_normalise(value=raw) == expected


def test_provider_specific_dot_and_plus_rules_are_not_applied() -> None:
    # Folding these would merge different people at providers where they are significant.
    assert email_normalise(value="e.rin@gmail.com") != email_normalise(value="erin@gmail.com")
    assert email_normalise(value="erin+x@example.ie") != email_normalise(value="erin@example.ie")


@pytest.mark.parametrize("raw", ["erin", "erin@", "@example.ie", "erin @example.ie", "a@b@c", ""])
def test_malformed_email_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidAttribute) as caught:
        email_normalise(value=raw)
    assert caught.value.reason == "format"


def test_email_with_control_character_is_rejected() -> None:
    with pytest.raises(InvalidAttribute):
        email_normalise(value="erin\x00@example.ie")


# --- phone --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+353 87 123 4567", "+353871234567"),
        ("+353 (0)87 123 4567", "+353871234567"),  # the "(0)" trunk prefix is not dialled
        ("+44 (0) 20 7946 0000", "+442079460000"),
        ("+1 (202) 555-0143", "+12025550143"),
        ("087 123.4567", "0871234567"),  # national numbers stay national: no country guessed
        (fullwidth("+353871234567"), "+353871234567"),
    ],
)
def test_phone_normalisation(raw: str, expected: str) -> None:
    assert phone_normalise(value=raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("123456", "length"),
        ("+1 234 56", "length"),
        ("+1234567890123456", "length"),
        ("+1-800-FLOWERS", "alphabet"),
        ("0871234567 ext 12", "alphabet"),
        ("087+1234567", "alphabet"),
        ("++353871234567", "alphabet"),
        ("", "length"),
    ],
)
def test_bad_phone_is_rejected(raw: str, reason: str) -> None:
    with pytest.raises(InvalidAttribute) as caught:
        phone_normalise(value=raw)
    assert caught.value.reason == reason


# --- documents and countries --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("pa-123 456.7", "PA1234567"),
        ("PA1234567", "PA1234567"),
        (" 12/345/678 ", "12345678"),
        (fullwidth("PA123"), "PA123"),
    ],
)
def test_document_number_normalisation(raw: str, expected: str) -> None:
    assert document_number_normalise(value=raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"), [("", "empty"), (" - . ", "empty"), ("PA#12", "alphabet")]
)
def test_bad_document_number_is_rejected(raw: str, reason: str) -> None:
    with pytest.raises(InvalidAttribute) as caught:
        document_number_normalise(value=raw)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("passport", "passport"),
        ("Driving Licence", "driving_licence"),
        ("national-id", "national_id"),
    ],
)
def test_document_type_normalisation(raw: str, expected: str) -> None:
    assert document_type_normalise(value=raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"), [("ie", "IE"), (" Gb ", "GB"), ("UK", "GB"), ("XK", "XK")]
)
def test_country_code_normalisation(raw: str, expected: str) -> None:
    assert country_code_normalise(value=raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"), [("ZZ", "unknown-country"), ("GBR", "format"), ("", "format")]
)
def test_bad_country_code_is_rejected(raw: str, reason: str) -> None:
    with pytest.raises(InvalidAttribute) as caught:
        country_code_normalise(value=raw)
    assert caught.value.reason == reason


def test_country_list_is_the_249_iso_3166_assignments_plus_kosovo() -> None:
    accepted = set()
    for first in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        for second in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
            code = normalises_or_none(country_code_normalise, first + second)
            if code is not None:
                accepted.add(code)
    assert len(accepted) == 250
    assert {"GB", "US", "IE", "DE", "AX", "SS", "XK"} <= accepted
    assert not {"UK", "EU", "AA", "ZZ"} & accepted


# --- idempotence --------------------------------------------------------------------------


NORMALISERS = [
    name_normalise,
    email_normalise,
    phone_normalise,
    document_number_normalise,
    document_type_normalise,
    country_code_normalise,
    date_normalise,
]


DRESSINGS: list[Callable[[str], str]] = [str, str.upper, str.lower, str.title, fullwidth]


def messy(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Valid values as platforms send them: any case, padded, sometimes fullwidth."""
    return st.tuples(
        valid, st.sampled_from(DRESSINGS), st.sampled_from(["", " ", "\t", "\u3000"])
    ).map(lambda t: t[2] + t[1](t[0]) + t[2])


def separated(
    pieces: st.SearchStrategy[str], separators: str, max_pieces: int = 5
) -> st.SearchStrategy[str]:
    """Pieces joined by separators drawn from the given characters."""
    return st.lists(
        st.tuples(st.sampled_from(list(separators)), pieces), max_size=max_pieces - 1
    ).flatmap(
        lambda rest: pieces.map(lambda first: first + "".join(sep + piece for sep, piece in rest))
    )


_LETTERS = "abcdefghijklmnopqrstuvwxyzáéíóúñçøåäöüßłđþ"

# Values each normaliser must accept, however they are dressed up.
VALID_INPUTS = {
    "name_normalise": messy(
        separated(st.text(alphabet=_LETTERS, min_size=1, max_size=8), " -'.\u2019", 4)
    ),
    "email_normalise": messy(st.emails()),
    "phone_normalise": messy(
        st.tuples(
            st.sampled_from(["", "+"]),
            st.lists(
                st.text(alphabet="0123456789", min_size=3, max_size=3), min_size=3, max_size=5
            ),
            st.sampled_from([" ", "-", ".", "/", ""]),
        ).map(lambda t: t[0] + t[2].join(t[1]))
    ),
    "document_number_normalise": messy(
        separated(st.from_regex(r"[A-Za-z0-9]{1,6}", fullmatch=True), " -./")
    ),
    "document_type_normalise": messy(
        st.sampled_from(["passport", "driving licence", "national-id", "residence_permit"])
    ),
    "country_code_normalise": messy(st.sampled_from(["GB", "UK", "IE", "DE", "US", "XK", "AX"])),
    "date_normalise": messy(st.dates().map(date.isoformat)),
}


@pytest.mark.parametrize("normalise", NORMALISERS, ids=lambda f: f.__name__)
@given(data=st.data())
def test_valid_inputs_are_accepted_and_normalisation_is_idempotent(
    normalise: Any, data: st.DataObject
) -> None:
    once = normalise(value=data.draw(VALID_INPUTS[normalise.__name__]))
    assert normalise(value=once) == once


@pytest.mark.parametrize("normalise", NORMALISERS, ids=lambda f: f.__name__)
@given(value=st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.text(max_size=40))
def test_normalisation_is_idempotent_on_any_text(normalise: Any, value: str) -> None:
    once = normalises_or_none(normalise, value)
    if once is not None:
        assert normalise(value=once) == once


@pytest.mark.parametrize("normalise", NORMALISERS, ids=lambda f: f.__name__)
def test_overlong_input_is_rejected_before_any_work(normalise: Any) -> None:
    with pytest.raises(InvalidAttribute) as caught:
        normalise(value="1" * 10_000)
    assert caught.value.reason == "too-long"


@pytest.mark.parametrize("normalise", NORMALISERS, ids=lambda f: f.__name__)
def test_non_string_input_is_rejected(normalise: Any) -> None:
    with pytest.raises(InvalidAttribute) as caught:
        normalise(value=12345678)
    assert caught.value.reason == "type"


@pytest.mark.parametrize("normalise", NORMALISERS, ids=lambda f: f.__name__)
def test_lone_surrogates_are_rejected(normalise: Any) -> None:
    # JSON "\ud800" decodes to a lone surrogate, which cannot be encoded for the HMAC.
    with pytest.raises(InvalidAttribute):
        normalise(value="abc\ud800def")


def test_rejection_never_echoes_the_input() -> None:
    canaries = [
        (name_normalise, "Zebedee\x00Quux" * 200),
        (date_normalise, "1987-02-31"),
        (email_normalise, "zebedee.quux@@example.org"),
        (phone_normalise, "+44 7700 9001 ZQ"),
        (document_number_normalise, "ZQ#998877"),
        (country_code_normalise, "ZQX"),
    ]
    for normalise, value in canaries:
        with pytest.raises(InvalidAttribute) as caught:
            normalise(value=value)
        rendered = str(caught.value) + repr(caught.value) + repr(caught.value.args)
        for fragment in ("Zebedee", "1987", "quux", "9001", "998877", "ZQ"):
            assert fragment.lower() not in rendered.lower()


# --- the keyed index ----------------------------------------------------------------------


def test_blind_index_known_answer() -> None:
    digest = blind_index(key=INDEX_KEY, kind="email", normalised="erin.oconnor@example.ie")
    assert digest.hex() == KNOWN_EMAIL_INDEX_HEX


def test_blind_index_matches_an_independent_hmac_computation() -> None:
    message = b"identity-escrow/v1/blind-index" + b"\x00\x00\x00\x05email"
    message += b"\x00\x00\x00\x17erin.oconnor@example.ie"
    expected = hmac.new(INDEX_KEY, message, hashlib.sha256).digest()[:16]
    assert (
        blind_index(key=INDEX_KEY, kind="email", normalised="erin.oconnor@example.ie") == expected
    )


@given(
    kinds=st.lists(st.sampled_from(sorted(INDEX_KINDS)), min_size=2, max_size=2, unique=True),
    normalised=st.text(min_size=1, max_size=40),
)
def test_different_kinds_never_collide_for_the_same_value(
    kinds: list[str], normalised: str
) -> None:
    first, second = (blind_index(key=INDEX_KEY, kind=k, normalised=normalised) for k in kinds)
    assert first != second


@given(normalised=st.text(min_size=1, max_size=40), kind=st.sampled_from(sorted(INDEX_KINDS)))
def test_indexes_of_different_platforms_differ(normalised: str, kind: str) -> None:
    assert blind_index(key=INDEX_KEY, kind=kind, normalised=normalised) != blind_index(
        key=OTHER_PLATFORM_KEY, kind=kind, normalised=normalised
    )


@given(normalised=st.text(min_size=1, max_size=40), kind=st.sampled_from(sorted(INDEX_KINDS)))
def test_index_length(normalised: str, kind: str) -> None:
    assert len(blind_index(key=INDEX_KEY, kind=kind, normalised=normalised)) == BLIND_INDEX_LENGTH


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(UnknownIndexKind):
        blind_index(key=INDEX_KEY, kind="mail", normalised="erin@example.ie")


def test_short_key_is_refused() -> None:
    with pytest.raises(InvalidIndexKey):
        blind_index(key=b"k" * 16, kind="email", normalised="erin@example.ie")


@pytest.mark.parametrize("normalised", ["", "abc\udfff"])
def test_unusable_normalised_value_is_refused(normalised: str) -> None:
    with pytest.raises(InvalidAttribute):
        blind_index(key=INDEX_KEY, kind="email", normalised=normalised)


# --- match keys ---------------------------------------------------------------------------


def test_full_identity_gives_the_four_match_keys() -> None:
    keys = identity_match_keys(key=INDEX_KEY, identity=ERIN)
    assert set(keys) == {"name_dob", "email", "phone", "document"}
    assert all(len(digest) == BLIND_INDEX_LENGTH for digest in keys.values())
    assert len(set(keys.values())) == 4


def test_match_keys_equal_the_documented_composition() -> None:
    keys = identity_match_keys(key=INDEX_KEY, identity=ERIN)
    # Netstring-style "<length>:<value>," parts make the composition unambiguous.
    assert keys["name_dob"] == blind_index(
        key=INDEX_KEY,
        kind="name_dob",
        normalised="18:oconnor ní bhriain,4:erin,10:1991-04-07,",
    )
    assert keys["document"] == blind_index(
        key=INDEX_KEY, kind="document", normalised="8:passport,2:IE,9:PA1234567,"
    )
    assert keys["email"] == blind_index(
        key=INDEX_KEY, kind="email", normalised="erin.oconnor@example.ie"
    )
    assert keys["phone"] == blind_index(key=INDEX_KEY, kind="phone", normalised="+353871234567")


def test_the_same_person_typed_differently_gives_the_same_match_keys() -> None:
    retyped: dict[str, str | date | None] = {
        "given_name": "  ERIN ",
        "family_name": "o\u2019connor ni\u0301 bhriain",
        "date_of_birth": "1991-04-07",
        "email": " erin.oconnor@EXAMPLE.IE",
        "phone": "+353871234567",
        "document_type": "Passport",
        "document_number": "PA1234567",
        "document_country": "IE",
    }
    assert identity_match_keys(key=INDEX_KEY, identity=retyped) == identity_match_keys(
        key=INDEX_KEY, identity=ERIN
    )


@pytest.mark.parametrize(
    ("missing", "lost"),
    [
        ("given_name", {"name_dob"}),
        ("family_name", {"name_dob"}),
        ("date_of_birth", {"name_dob"}),
        ("email", {"email"}),
        ("phone", {"phone"}),
        ("document_type", {"document"}),
        ("document_number", {"document"}),
        ("document_country", {"document"}),
        ("postal_address", set()),
    ],
)
def test_a_key_is_made_only_when_all_its_inputs_are_present(missing: str, lost: set[str]) -> None:
    for absent in ("drop", None, "   "):
        identity = dict(ERIN)
        if absent == "drop":
            del identity[missing]
        else:
            identity[missing] = absent
        keys = identity_match_keys(key=INDEX_KEY, identity=identity)
        assert set(keys) == {"name_dob", "email", "phone", "document"} - lost


def test_empty_identity_gives_no_keys() -> None:
    assert identity_match_keys(key=INDEX_KEY, identity={}) == {}


def test_postal_address_is_not_indexed() -> None:
    moved = dict(ERIN, postal_address="2 Quay Street, Galway")
    assert identity_match_keys(key=INDEX_KEY, identity=moved) == identity_match_keys(
        key=INDEX_KEY, identity=ERIN
    )


def test_name_parts_cannot_slide_between_given_and_family_name() -> None:
    first = {"given_name": "Mary Ann", "family_name": "Lee", "date_of_birth": "1990-01-01"}
    second = {"given_name": "Mary", "family_name": "Ann Lee", "date_of_birth": "1990-01-01"}
    assert identity_match_keys(key=INDEX_KEY, identity=first) != identity_match_keys(
        key=INDEX_KEY, identity=second
    )


def test_the_same_person_on_two_platforms_has_unrelated_match_keys() -> None:
    on_a = identity_match_keys(key=INDEX_KEY, identity=ERIN)
    on_b = identity_match_keys(key=OTHER_PLATFORM_KEY, identity=ERIN)
    assert set(on_a.values()).isdisjoint(on_b.values())


def test_unknown_identity_field_is_refused() -> None:
    # A misspelt field would otherwise silently produce no key, hiding a ban evasion.
    with pytest.raises(UnknownIdentityField):
        identity_match_keys(key=INDEX_KEY, identity={"dob": "1991-04-07"})


def test_invalid_field_value_names_the_field_but_not_the_value() -> None:
    with pytest.raises(InvalidAttribute) as caught:
        identity_match_keys(key=INDEX_KEY, identity=dict(ERIN, date_of_birth="1991-02-30"))
    assert caught.value.field == "date_of_birth"
    assert caught.value.reason == "impossible-date"
    assert "1991" not in str(caught.value)


def test_a_date_in_a_name_field_is_refused() -> None:
    with pytest.raises(InvalidAttribute) as caught:
        identity_match_keys(key=INDEX_KEY, identity=dict(ERIN, given_name=date(1991, 4, 7)))
    assert caught.value.reason == "type"


def test_exceptions_are_crypto_errors() -> None:
    for error in (InvalidAttribute, InvalidIndexKey, UnknownIdentityField, UnknownIndexKind):
        assert issubclass(error, CryptoError)
