"""The enrolment request's fixed schema: its rules, and a direct check of a valid body.

DRF builds some thirty field objects for every enrolment it validates (a serializer
deep-copies its declared fields per instance), which cost more than a millisecond of
CPU, a sixth of a signup. `enrolment_input_valid` checks the same schema with plain code
and answers only "valid, and here is the validated data" or "not sure": it never
produces an error. Anything it does not accept (a wrong value, a number where text is
expected, an input it does not model) goes through the DRF serializers in
`escrow.vault.api.enrolments`, which remain the one authority on what is refused and
with which error body, and which the OpenAPI document is built from.

So the contract this module keeps is narrow: whatever it accepts, the serializers accept
too, with equal validated data (tests/test_enrolment_input.py checks this against the
serializers on generated bodies). The parsing of dates, times and e-mail addresses is
done by the same functions DRF's fields call.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator
from django.utils import timezone
from rest_framework import serializers

COUNTRY = r"^[A-Z]{2}$"
PHONE = r"^\+[1-9][0-9]{6,14}$"
DOCUMENT_NUMBER = r"^[A-Za-z0-9][A-Za-z0-9 ./-]{1,63}$"
ASSURANCE_LEVELS = ("low", "medium", "substantial", "high", "very_high")
DOCUMENT_TYPES = ("passport", "driving_licence", "national_id", "residence_permit")
# At least one of these makes an identity something a person can be found again by.
IDENTIFYING_FIELDS = frozenset({"family_name", "email", "phone", "document"})
EARLIEST_DATE_OF_BIRTH = date(1900, 1, 1)
# Clocks of identity providers drift; a verification a few minutes ahead is not refused.
VERIFIED_AT_LEEWAY = timedelta(minutes=5)


def date_of_birth_plausible(value: date) -> bool:
    return EARLIEST_DATE_OF_BIRTH <= value <= timezone.now().date()


def verified_at_plausible(value: datetime) -> bool:
    return value <= timezone.now() + VERIFIED_AT_LEEWAY


# What DRF's CharField also refuses after trimming (ProhibitNullCharactersValidator,
# ProhibitSurrogateCharactersValidator).
_NOT_IN_TEXT = re.compile("[\x00\ud800-\udfff]")
_EMAIL = EmailValidator()
# Stateless field objects, used only for their parsing (ISO 8601, the current time zone).
_DATE = serializers.DateField()
_DATETIME = serializers.DateTimeField()


class _NotSure(Exception):
    """The body may be invalid: leave it to the serializers."""


def _text(value: Any, max_length: int, pattern: re.Pattern[str] | None = None) -> str:
    """DRF's CharField (trimmed, not blank), restricted to str as StrictSerializer is."""
    if not isinstance(value, str):
        raise _NotSure
    text = value.strip()
    if (not text or len(text) > max_length or _NOT_IN_TEXT.search(text)
            or (pattern is not None and not pattern.search(text))):
        raise _NotSure
    return text


def _regex(pattern: str) -> Callable[[Any], str]:
    compiled = re.compile(pattern)
    # RegexField has no length limit of its own; the patterns bound their length.
    return lambda value: _text(value, 1 << 30, compiled)


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise _NotSure
        return value

    return check


def _email(value: Any) -> str:
    text = _text(value, 254)
    try:
        _EMAIL(text)
    except DjangoValidationError:
        raise _NotSure from None
    return text


def _parsed(field: serializers.Field, value: Any) -> Any:
    if not isinstance(value, str):
        raise _NotSure
    try:
        return field.to_internal_value(value)
    except serializers.ValidationError:
        raise _NotSure from None


def _date_of_birth(value: Any) -> date:
    parsed = _parsed(_DATE, value)
    if not date_of_birth_plausible(parsed):
        raise _NotSure
    return parsed  # type: ignore[no-any-return]


def _verified_at(value: Any) -> datetime:
    parsed = _parsed(_DATETIME, value)
    if not verified_at_plausible(parsed):
        raise _NotSure
    return parsed  # type: ignore[no-any-return]


def _lines(value: Any) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= 4:
        raise _NotSure
    return [_text(line, 200) for line in value]


def _object(checks: dict[str, Callable[[Any], Any]], required: frozenset[str]
            ) -> Callable[[Any], dict[str, Any]]:
    """A StrictSerializer: no unknown keys, every required key, each value checked."""
    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or not required <= value.keys() <= checks.keys():
            raise _NotSure
        return {name: checks[name](item) for name, item in value.items()}

    return check


_postal_address = _object(
    {"lines": _lines, "locality": lambda v: _text(v, 100), "postal_code": lambda v: _text(v, 20),
     "country": _regex(COUNTRY)},
    required=frozenset({"lines", "locality", "postal_code", "country"}),
)
_document = _object(
    {"type": _choice(DOCUMENT_TYPES), "number": _regex(DOCUMENT_NUMBER),
     "country": _regex(COUNTRY)},
    required=frozenset({"type", "number", "country"}),
)
_identity_fields = _object(
    {"given_name": lambda v: _text(v, 200), "family_name": lambda v: _text(v, 200),
     "date_of_birth": _date_of_birth, "postal_address": _postal_address, "email": _email,
     "phone": _regex(PHONE), "document": _document},
    required=frozenset(),
)
_evidence = _object(
    {"provider": lambda v: _text(v, 100), "reference": lambda v: _text(v, 200),
     "assurance_level": _choice(ASSURANCE_LEVELS), "verified_at": _verified_at},
    required=frozenset({"provider", "reference", "assurance_level", "verified_at"}),
)


def _identity(value: Any) -> dict[str, Any]:
    identity = _identity_fields(value)
    if not IDENTIFYING_FIELDS & identity.keys():
        raise _NotSure
    return identity


_body = _object({"identity": _identity, "evidence": _evidence},
                required=frozenset({"identity", "evidence"}))


def enrolment_input_valid(data: Any) -> dict[str, Any] | None:
    """The validated data of a valid enrolment body, as the serializers would give it;
    None if the body may be invalid (then the serializers decide, and name the errors)."""
    try:
        return _body(data)
    except _NotSure:
        return None
