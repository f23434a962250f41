"""Per-platform pseudonyms: short public handles that are typo-proof and unlinkable.

A pseudonym is ``HMAC-SHA256(platform_key, record_id)`` truncated to 80 bits and written in
Crockford base32 with a mod-37 check symbol::

    PSN-XXXX-XXXX-XXXX-XXXX-C

The platform key comes from :func:`platform_key_derive`: one HKDF output per platform and per
purpose, so the pseudonyms of one person on two platforms are outputs of two independent PRFs and
cannot be linked without the service secret.

Collisions. Within one platform, ``n`` pseudonyms collide with probability about
``n**2 / 2**81`` (birthday bound over 80 bits): 4e-13 for a million enrolments, 4e-9 for a
hundred million, 4e-7 for a billion. The database's unique constraint on the pseudonym turns
a collision into a failed enrolment, never two people sharing a handle. Someone typing random
well-formed pseudonyms hits an existing one with probability ``n / 2**80`` per guess.

The check symbol is Crockford's: the 80-bit value modulo the prime 37. Every single-symbol
substitution changes the value by ``d * 32**i`` with ``0 < |d| < 32``, and every adjacent
transposition by ``(a - b) * 31 * 32**i``; neither factor shares a divisor with 37, so both are
always caught. See docs/crypto-pseudonyms.md.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

from escrow.crypto.errors import CryptoError
from escrow.crypto.kdf import context_info, hkdf_sha256

PURPOSE_PSEUDONYM = "pseudonym"
PURPOSE_BLIND_INDEX = "blind-index"
KEY_PURPOSES = frozenset({PURPOSE_PSEUDONYM, PURPOSE_BLIND_INDEX})

# The service secret is the root of every platform key; below 256 bits it would be the weakest
# link in front of HMAC-SHA256.
MIN_SERVICE_SECRET_LENGTH = 32
PLATFORM_KEY_LENGTH = 32

PSEUDONYM_PREFIX = "PSN"
PSEUDONYM_BITS = 80

# Crockford base32: no I, L, O (read as 1, 1, 0) and no U (accidental obscenity).
_SYMBOLS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Crockford's five extra check symbols take the values 32..36.
_CHECK_SYMBOLS = _SYMBOLS + "*~$=U"
_CHECK_MODULUS = 37
_BODY_LENGTH = PSEUDONYM_BITS // 5
_GROUP_LENGTH = 4
_TRUNCATED_BYTES = PSEUDONYM_BITS // 8

_SYMBOL_VALUES = {symbol: value for value, symbol in enumerate(_SYMBOLS)}
_SYMBOL_VALUES.update({"O": 0, "I": 1, "L": 1})
_CHECK_VALUES = {**_SYMBOL_VALUES, **{s: v for v, s in enumerate(_CHECK_SYMBOLS) if v >= 32}}

# Word processors and chat clients turn "-" into typographic dashes; a pasted pseudonym must
# still parse. Whitespace of any kind is dropped too.
_SEPARATORS = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212")

# Long enough for generous spacing, short enough that NFKC over hostile input stays cheap.
_MAX_INPUT_LENGTH = 64

_SYMBOL_CLASS = "0-9A-HJKMNP-TV-Z"
PSEUDONYM_CANONICAL_RE = (
    rf"{PSEUDONYM_PREFIX}(?:-[{_SYMBOL_CLASS}]{{{_GROUP_LENGTH}}}){{4}}-[{_SYMBOL_CLASS}*~$=U]"
)


class ServiceSecretTooShort(CryptoError):
    """The service secret is shorter than MIN_SERVICE_SECRET_LENGTH bytes."""


class UnknownKeyPurpose(CryptoError):
    """A platform key was requested for a purpose outside KEY_PURPOSES."""


class InvalidPlatformId(CryptoError):
    """The platform identifier is empty or not a string."""


class InvalidPlatformKey(CryptoError):
    """A platform key is not PLATFORM_KEY_LENGTH bytes (not an output of platform_key_derive)."""


class InvalidRecordId(CryptoError):
    """The record id is empty."""


class InvalidPseudonym(CryptoError):
    """Text that is not a well-formed pseudonym.

    ``reason`` is one of "type", "length", "prefix", "alphabet", "checksum". The message never
    contains the rejected text: whatever a user pasted may be personal data.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"not a valid pseudonym ({reason})")
        self.reason = reason


def platform_key_derive(*, service_secret: bytes, platform_id: str, purpose: str) -> bytes:
    """The 32-byte key of one platform for one purpose ("pseudonym" or "blind-index").

    HKDF-SHA256 with no salt (RFC 5869 s3.1: the secret is already uniformly random) and an
    ``info`` that binds the purpose and the platform id, so each (platform, purpose) key is an
    independent pseudorandom value: knowing one platform's keys says nothing about another's.
    """
    if len(service_secret) < MIN_SERVICE_SECRET_LENGTH:
        raise ServiceSecretTooShort(
            f"the service secret must be at least {MIN_SERVICE_SECRET_LENGTH} bytes"
        )
    if purpose not in KEY_PURPOSES:
        raise UnknownKeyPurpose(f"purpose must be one of {sorted(KEY_PURPOSES)}")
    if not isinstance(platform_id, str) or not platform_id:
        raise InvalidPlatformId("the platform id must be a non-empty string")
    info = context_info("platform-key", purpose, platform_id)
    return hkdf_sha256(ikm=service_secret, salt=None, info=info, length=PLATFORM_KEY_LENGTH)


def pseudonym_derive(*, platform_key: bytes, record_id: bytes) -> str:
    """The canonical pseudonym of ``record_id`` on the platform whose key is ``platform_key``."""
    if len(platform_key) != PLATFORM_KEY_LENGTH:
        raise InvalidPlatformKey(f"a platform key is {PLATFORM_KEY_LENGTH} bytes")
    if not record_id:
        raise InvalidRecordId("the record id must not be empty")
    # The key is already specific to the "pseudonym" purpose, so the record id needs no label.
    mac = hmac.new(platform_key, record_id, hashlib.sha256).digest()
    return _pseudonym_format(int.from_bytes(mac[:_TRUNCATED_BYTES], "big"))


def pseudonym_parse(text: str) -> str:
    """The canonical form of a pseudonym as a person typed or pasted it.

    Accepts any case, the prefix or not, hyphens, dashes and spaces anywhere (or none),
    surrounding whitespace, fullwidth forms (NFKC) and Crockford's aliases O -> 0, I/L -> 1.
    Raises InvalidPseudonym with a machine-readable ``reason`` otherwise.
    """
    if not isinstance(text, str):
        raise InvalidPseudonym("type")
    if len(text) > _MAX_INPUT_LENGTH:
        raise InvalidPseudonym("length")
    folded = unicodedata.normalize("NFKC", text).upper()
    compact = "".join(ch for ch in folded if not (ch.isspace() or ch in _SEPARATORS))
    if len(compact) == len(PSEUDONYM_PREFIX) + _BODY_LENGTH + 1:
        if not compact.startswith(PSEUDONYM_PREFIX):
            raise InvalidPseudonym("prefix")
        compact = compact[len(PSEUDONYM_PREFIX) :]
    elif len(compact) != _BODY_LENGTH + 1:
        raise InvalidPseudonym("length")
    value = 0
    for symbol in compact[:_BODY_LENGTH]:
        digit = _SYMBOL_VALUES.get(symbol)
        if digit is None:
            raise InvalidPseudonym("alphabet")
        value = value * 32 + digit
    check = _CHECK_VALUES.get(compact[_BODY_LENGTH])
    if check is None:
        raise InvalidPseudonym("alphabet")
    if check != value % _CHECK_MODULUS:
        raise InvalidPseudonym("checksum")
    return _pseudonym_format(value)


def _pseudonym_format(value: int) -> str:
    body = "".join(
        _SYMBOLS[(value >> (5 * shift)) & 0x1F] for shift in reversed(range(_BODY_LENGTH))
    )
    groups = [body[i : i + _GROUP_LENGTH] for i in range(0, _BODY_LENGTH, _GROUP_LENGTH)]
    return "-".join([PSEUDONYM_PREFIX, *groups, _CHECK_SYMBOLS[value % _CHECK_MODULUS]])
