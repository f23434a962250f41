"""The identity a platform escrows, and how it maps onto sealed fields.

Field names here are the vocabulary of the whole service: legal bases list which of
them they may release, the release package names them, and each is sealed under its
own data key so that releasing one never opens another.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime

# Every sealed field, in a fixed order.
IDENTITY_FIELDS = (
    "given_name",
    "family_name",
    "date_of_birth",
    "postal_address",
    "email",
    "phone",
    "document_type",
    "document_number",
    "document_country",
    "verification_reference",
)


@dataclass(frozen=True, repr=False)
class PostalAddress:
    lines: tuple[str, ...]
    locality: str
    postal_code: str
    country: str


@dataclass(frozen=True, repr=False)
class Identity:
    """A verified identity. `repr` is suppressed so it never reaches a log line."""

    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: date | None = None
    postal_address: PostalAddress | None = None
    email: str | None = None
    phone: str | None = None
    document_type: str | None = None
    document_number: str | None = None
    document_country: str | None = None


@dataclass(frozen=True, repr=False)
class Evidence:
    provider: str
    reference: str
    assurance_level: str
    verified_at: datetime


def sealed_field_values(*, identity: Identity, evidence: Evidence) -> dict[str, bytes]:
    """The plaintext of each present field, as UTF-8 bytes (addresses as canonical JSON)."""
    values: dict[str, bytes] = {}
    for name in IDENTITY_FIELDS:
        if name == "verification_reference":
            values[name] = evidence.reference.encode()
            continue
        value = getattr(identity, name)
        if value is None:
            continue
        if isinstance(value, PostalAddress):
            encoded = json.dumps(asdict(value), sort_keys=True, separators=(",", ":"))
            values[name] = encoded.encode()
        elif isinstance(value, date):
            values[name] = value.isoformat().encode()
        else:
            values[name] = str(value).encode()
    return values


def match_attributes(identity: Identity) -> dict[str, str | date | None]:
    """What blind indexes are computed over (see escrow.crypto.blind_index)."""
    address = identity.postal_address
    return {
        "given_name": identity.given_name,
        "family_name": identity.family_name,
        "date_of_birth": identity.date_of_birth,
        "email": identity.email,
        "phone": identity.phone,
        "document_type": identity.document_type,
        "document_number": identity.document_number,
        "document_country": identity.document_country,
        "postal_address": (
            " ".join([*address.lines, address.locality, address.postal_code, address.country])
            if address
            else None
        ),
    }
