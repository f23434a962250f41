"""Blind indexes: keyed, per-platform fingerprints of normalised identity attributes.

They let a platform learn "this signup is the same person as pseudonym P" without anyone
decrypting an identity. Each index is ``HMAC-SHA256(key, context_info("blind-index", kind,
normalised))`` truncated to 16 bytes, under the platform's "blind-index" key from
:func:`escrow.crypto.pseudonym.platform_key_derive`.

Two things decide whether an index is useful: normalisation (the same person must give the
same bytes however the platform spelled them) and the key (without it, nobody can test a guess).
The key is the only protection: names, birth dates, phone numbers and document numbers have
little entropy, so anyone holding the key can confirm a guessed identity offline. The rules,
their reasons and the false-positive rates are in docs/crypto-pseudonyms.md.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime

from escrow.crypto.errors import CryptoError
from escrow.crypto.kdf import context_info
from escrow.crypto.pseudonym import PLATFORM_KEY_LENGTH

# 128 bits: an accidental collision among n indexes of one platform has probability about
# n**2 / 2**129 (1.5e-23 for a hundred million), so half of SHA-256 costs nothing in accuracy
# and halves what the lookup index stores.
BLIND_INDEX_LENGTH = 16

INDEX_KINDS = frozenset({"name_dob", "email", "phone", "document"})

# Fields an identity may carry, and which of them each match key combines (in this order).
# postal_address is accepted and deliberately not indexed: see docs/crypto-pseudonyms.md.
IDENTITY_FIELDS = frozenset(
    {
        "given_name",
        "family_name",
        "date_of_birth",
        "email",
        "phone",
        "document_type",
        "document_number",
        "document_country",
        "postal_address",
    }
)
MATCH_KEY_FIELDS: Mapping[str, tuple[str, ...]] = {
    "name_dob": ("family_name", "given_name", "date_of_birth"),
    "email": ("email",),
    "phone": ("phone",),
    "document": ("document_type", "document_country", "document_number"),
}

# Bounds the work NFKC and the rest do on hostile input; no real attribute comes close.
MAX_ATTRIBUTE_LENGTH = 512

# Deleted, not turned into spaces: inside names they join parts (O'Brien, N'Diaye, Hawai'i),
# and people, keyboards and documents disagree on which of these to use.
_APOSTROPHES = frozenset("'`\u00b4\u02b9\u02bb\u02bc\u2018\u2019\u201b\u2032\uff07")
# Invisible characters that NFKC leaves alone; two names differing only by these look equal.
_INVISIBLE_MARKS = frozenset(
    ["\u034f", *map(chr, range(0x180B, 0x1810)), *map(chr, range(0xFE00, 0xFE10))]
    + [chr(c) for c in range(0xE0100, 0xE01F0)]
)
# Unencodable (lone surrogates, which JSON "\ud800" produces), private-use and unassigned code
# points: none can be part of a real attribute, and unassigned ones could normalise differently
# once a later Unicode version assigns them.
_FORBIDDEN_CATEGORIES = frozenset({"Cs", "Co", "Cn"})
_DASHES = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d")

_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DOCUMENT_TYPE = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")
_DOCUMENT_NUMBER = re.compile(r"[A-Z0-9]+")
_PHONE = re.compile(r"\+?[0-9]*")
_PHONE_SEPARATORS = frozenset(" ()./") | _DASHES
_MIN_PHONE_DIGITS = 7
_MAX_PHONE_DIGITS = 15  # ITU-T E.164 s6.1

# ISO 3166-1 alpha-2, the 249 officially assigned codes, plus XK (Kosovo): user-assigned, but
# what the EU and many issuers print on Kosovar documents.
# Kept as a whitespace-separated table (hence the noqa) so that it can be read against the
# ISO list line by line.
_COUNTRY_CODES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW XK
    """.split()  # noqa: SIM905
)
# "UK" is exceptionally reserved by ISO 3166 for the United Kingdom, so it can only mean GB.
_COUNTRY_ALIASES = {"UK": "GB"}


class InvalidAttribute(CryptoError):
    """An identity attribute that cannot be normalised.

    ``kind`` is the attribute kind ("name", "date", ...) or index kind, ``reason`` a fixed
    machine-readable word, ``field`` the identity field when known. The message never contains
    the value: it is personal data.
    """

    def __init__(self, *, kind: str, reason: str, field: str | None = None) -> None:
        super().__init__(f"{field or kind} rejected ({reason})")
        self.kind = kind
        self.reason = reason
        self.field = field


class InvalidIndexKey(CryptoError):
    """The key is not a 32-byte platform key."""


class UnknownIndexKind(CryptoError):
    """The index kind is not one of INDEX_KINDS."""


class UnknownIdentityField(CryptoError):
    """The identity carries a field this module does not know (probably a misspelling)."""


# --- normalisers --------------------------------------------------------------------------


def name_normalise(*, value: str) -> str:
    """A personal name: NFKC, casefold, apostrophes deleted, other punctuation as spaces.

    Letters, combining marks and digits are kept (diacritics included); invisible formatting
    characters are deleted; every other character separates words; whitespace is collapsed.
    """
    text = _checked(value, kind="name")
    text = "".join(ch for ch in text if ch not in _APOSTROPHES)
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch in _APOSTROPHES or ch in _INVISIBLE_MARKS or category == "Cf":
            continue
        kept.append(ch if category[0] in "LMN" else " ")
    # Deleting an invisible character can bring a base letter next to its combining mark.
    result = unicodedata.normalize("NFKC", " ".join("".join(kept).split()))
    if not result:
        raise InvalidAttribute(kind="name", reason="empty")
    return result


def date_normalise(*, value: str | date) -> str:
    """A calendar date as YYYY-MM-DD, from a date or an ISO 8601 calendar-date string."""
    if isinstance(value, datetime):
        # A timestamp's calendar day depends on a time zone we do not know.
        raise InvalidAttribute(kind="date", reason="type")
    if isinstance(value, date):
        return value.isoformat()
    text = _ascii_digits(_checked(value, kind="date")).strip()
    match = _ISO_DATE.fullmatch(text)
    if match is None:
        raise InvalidAttribute(kind="date", reason="format")
    year, month, day = (int(group) for group in match.groups())
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        raise InvalidAttribute(kind="date", reason="impossible-date") from None


def email_normalise(*, value: str) -> str:
    """An email address: NFKC, casefold, surrounding whitespace stripped, nothing else.

    Provider-specific rules (dots and "+tag" ignored at some providers) are not applied:
    they hold only for some domains and change over time, and applying them where they do
    not hold would merge two different people's addresses.
    """
    text = _folded(_checked(value, kind="email")).strip()
    local, at, domain = text.partition("@")
    if (
        not at
        or not local
        or not domain
        or "@" in domain
        or any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in text)
    ):
        raise InvalidAttribute(kind="email", reason="format")
    return text


def phone_normalise(*, value: str) -> str:
    """A phone number as "+" (if given) and digits, E.164-style; 7 to 15 digits.

    Spaces, dashes, dots, slashes and parentheses are dropped, and the "(0)" that
    international formats print before a trunk prefix is removed. No country is guessed for a
    national number, so "087..." and "+35387..." stay different.
    """
    text = _ascii_digits(_checked(value, kind="phone")).strip()
    if text.startswith("+"):
        text = text.replace("(0)", "", 1)
    compact = "".join(ch for ch in text if ch not in _PHONE_SEPARATORS)
    if _PHONE.fullmatch(compact) is None:
        raise InvalidAttribute(kind="phone", reason="alphabet")
    if not _MIN_PHONE_DIGITS <= len(compact.lstrip("+")) <= _MAX_PHONE_DIGITS:
        raise InvalidAttribute(kind="phone", reason="length")
    return compact


def document_number_normalise(*, value: str) -> str:
    """A document number: upper case A-Z and 0-9 only; spaces, dashes, dots, slashes dropped.

    Letters and digits are not aliased (O and 0 are both used by some issuers).
    """
    text = unicodedata.normalize("NFKC", _checked(value, kind="document_number")).upper()
    compact = "".join(ch for ch in text if not (ch.isspace() or ch in _DASHES or ch in "./"))
    if not compact:
        raise InvalidAttribute(kind="document_number", reason="empty")
    if _DOCUMENT_NUMBER.fullmatch(compact) is None:
        raise InvalidAttribute(kind="document_number", reason="alphabet")
    return compact


def document_type_normalise(*, value: str) -> str:
    """A document type code such as "passport" or "driving_licence"."""
    text = _folded(_checked(value, kind="document_type"))
    words = "".join(" " if ch in _DASHES or ch == "_" else ch for ch in text).split()
    if not words:
        raise InvalidAttribute(kind="document_type", reason="empty")
    code = "_".join(words)
    if _DOCUMENT_TYPE.fullmatch(code) is None:
        raise InvalidAttribute(kind="document_type", reason="alphabet")
    return code


def country_code_normalise(*, value: str) -> str:
    """An ISO 3166-1 alpha-2 country code, upper case ("UK" read as "GB")."""
    text = unicodedata.normalize("NFKC", _checked(value, kind="country")).strip().upper()
    if len(text) != 2 or not ("A" <= text[0] <= "Z" and "A" <= text[1] <= "Z"):
        raise InvalidAttribute(kind="country", reason="format")
    code = _COUNTRY_ALIASES.get(text, text)
    if code not in _COUNTRY_CODES:
        raise InvalidAttribute(kind="country", reason="unknown-country")
    return code


_FIELD_NORMALISERS: Mapping[str, Callable[..., str]] = {
    "given_name": name_normalise,
    "family_name": name_normalise,
    "date_of_birth": date_normalise,
    "email": email_normalise,
    "phone": phone_normalise,
    "document_type": document_type_normalise,
    "document_number": document_number_normalise,
    "document_country": country_code_normalise,
}


# --- indexes ------------------------------------------------------------------------------


def blind_index(*, key: bytes, kind: str, normalised: str) -> bytes:
    """The 16-byte index of an already normalised value (or composition) of one kind.

    The kind is inside the MAC input, length-prefixed, so equal values of different kinds
    never share an index.
    """
    if len(key) != PLATFORM_KEY_LENGTH:
        raise InvalidIndexKey(f"a blind-index key is {PLATFORM_KEY_LENGTH} bytes")
    if kind not in INDEX_KINDS:
        raise UnknownIndexKind(f"kind must be one of {sorted(INDEX_KINDS)}")
    if not isinstance(normalised, str) or not normalised:
        raise InvalidAttribute(kind=kind, reason="empty")
    try:
        encoded = normalised.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidAttribute(kind=kind, reason="alphabet") from None
    message = context_info("blind-index", kind, encoded)
    return hmac.new(key, message, hashlib.sha256).digest()[:BLIND_INDEX_LENGTH]


def blind_index_rekey(*, key: bytes, digest: bytes) -> bytes:
    """An existing index carried under a newer key: ``HMAC-SHA256(key, old index)``.

    A rotation cannot recompute indexes from identities (the service never holds them in
    the clear), so each new version wraps the previous one: the index under version n is
    the chain through every version from the first. Holding an older key alone tests no
    guess against the stored indexes; see docs/crypto.md ("Rotating the blind-index secret").
    """
    if len(key) != PLATFORM_KEY_LENGTH:
        raise InvalidIndexKey(f"a blind-index key is {PLATFORM_KEY_LENGTH} bytes")
    if len(digest) != BLIND_INDEX_LENGTH:
        raise InvalidAttribute(kind="digest", reason="length")
    message = context_info("blind-index-rekey", digest)
    return hmac.new(key, message, hashlib.sha256).digest()[:BLIND_INDEX_LENGTH]


def identity_match_keys(
    *, key: bytes, identity: Mapping[str, str | date | None]
) -> dict[str, bytes]:
    """The match keys ("name_dob", "email", "phone", "document") this identity supports.

    A key is made only when every field it combines is present; a field that is missing,
    None or only whitespace is absent. Every present field is normalised (and so validated)
    even if no key uses it. Raises InvalidAttribute (with ``field`` set) for a bad value and
    UnknownIdentityField for a field name outside IDENTITY_FIELDS.
    """
    unknown = set(identity) - IDENTITY_FIELDS
    if unknown:
        raise UnknownIdentityField(f"unknown identity fields: {sorted(unknown)}")
    normalised: dict[str, str] = {}
    for field, normalise in _FIELD_NORMALISERS.items():
        value = identity.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            normalised[field] = normalise(value=value)
        except InvalidAttribute as exc:
            raise InvalidAttribute(kind=exc.kind, reason=exc.reason, field=field) from exc
    keys: dict[str, bytes] = {}
    for kind, fields in MATCH_KEY_FIELDS.items():
        if all(field in normalised for field in fields):
            parts = [normalised[field] for field in fields]
            keys[kind] = blind_index(key=key, kind=kind, normalised=_composed(parts))
    return keys


# --- helpers ------------------------------------------------------------------------------


def _checked(value: object, *, kind: str) -> str:
    if not isinstance(value, str):
        raise InvalidAttribute(kind=kind, reason="type")
    if len(value) > MAX_ATTRIBUTE_LENGTH:
        raise InvalidAttribute(kind=kind, reason="too-long")
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in value):
        raise InvalidAttribute(kind=kind, reason="alphabet")
    return value


def _folded(text: str) -> str:
    # casefold() can produce text that is no longer NFKC ("ǰ" becomes "ǰ" decomposed), so
    # normalise again after it.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _ascii_digits(text: str) -> str:
    # NFKC maps fullwidth digits but not other scripts' (Arabic-Indic, Devanagari, ...).
    text = unicodedata.normalize("NFKC", text)
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def _composed(parts: list[str]) -> str:
    # One part is the value itself, so an "email" match key equals the index of the normalised
    # address. Several parts are netstrings ("<length>:<value>,"), which no choice of values
    # can make ambiguous: ("mary ann", "lee") and ("mary", "ann lee") stay distinct.
    if len(parts) == 1:
        return parts[0]
    return "".join(f"{len(part)}:{part}," for part in parts)
