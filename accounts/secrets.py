"""Formats of the bearer secrets we issue: `<kind>_<prefix>_<secret>`.

The prefix (public, indexed) finds the row in one query; the 256-bit secret is
checked against its SHA-256 in constant time. The kind tag lets secret scanners
recognise a leaked key and tells the authenticator which table to consult.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PLATFORM_KEY = "esk"  # platform and agency API keys
STAFF_TOKEN = "est"  # noqa: S105 (a type tag, not a secret)
_PREFIX_CHARS = "abcdefghijklmnopqrstuvwxyz234567"
_PREFIX_LEN = 12


@dataclass(frozen=True, repr=False)
class IssuedSecret:
    prefix: str
    token: str  # shown to its owner once, never stored
    digest: bytes


@dataclass(frozen=True, repr=False)
class PresentedSecret:
    kind: str
    prefix: str
    token: str


def secret_issue(kind: str) -> IssuedSecret:
    prefix = "".join(secrets.choice(_PREFIX_CHARS) for _ in range(_PREFIX_LEN))
    token = f"{kind}_{prefix}_{secrets.token_urlsafe(32)}"
    return IssuedSecret(prefix=prefix, token=token, digest=secret_digest(token))


def secret_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def secret_parse(token: str) -> PresentedSecret | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or len(parts[1]) != _PREFIX_LEN or len(parts[2]) < 40:
        return None
    return PresentedSecret(kind=parts[0], prefix=parts[1], token=token)


def secret_matches(presented: PresentedSecret, stored_digest: bytes) -> bool:
    return hmac.compare_digest(secret_digest(presented.token), bytes(stored_digest))
