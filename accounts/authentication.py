"""DRF authentication for `Authorization: Bearer <key>`.

Platform and agency keys resolve to a principal (not a Django user); staff tokens
resolve to the staff member. Each costs one indexed query by prefix.

On PostgreSQL a process remembers the API keys it has verified, together with the
credential generation it read in the same statement, and on the next request only
re-reads that one-row generation: database triggers change it whenever any credential,
or a platform's or agency's standing, changes (accounts/models.py). A revoked key is
therefore refused on the first request that starts after the revocation commits, in
every process, exactly as without the memory. The secret is still checked against the
stored digest on every request, and expiry against the clock.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Subquery
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import Agency, ApiCredential, CredentialGeneration, Platform, StaffToken
from accounts.secrets import (
    PLATFORM_KEY,
    STAFF_TOKEN,
    PresentedSecret,
    secret_matches,
    secret_parse,
)

_INVALID = "invalid or expired credentials"


@dataclass(frozen=True)
class ApiPrincipal:
    """Who is calling with an API key: exactly one of platform and agency is set."""

    credential: ApiCredential
    platform: Platform | None = None
    agency: Agency | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    is_authenticated: bool = True
    is_active: bool = True

    @property
    def pk(self) -> str:
        return f"credential:{self.credential.prefix}"


def _bearer(request: Request) -> str | None:
    header = authentication.get_authorization_header(request).decode("latin-1")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _presented(request: Request, kind: str) -> PresentedSecret | None:
    """The bearer secret if it is of `kind`; None if there is none or it is of the other kind.

    A bearer token that is no secret we issue (truncated, mistyped, of an unknown kind)
    is a failed authentication, not a missing one: the client did present credentials.
    """
    token = _bearer(request)
    if token is None:
        return None
    presented = secret_parse(token)
    if presented is None or presented.kind not in {PLATFORM_KEY, STAFF_TOKEN}:
        raise exceptions.AuthenticationFailed(_INVALID)
    return presented if presented.kind == kind else None


@dataclass(frozen=True)
class _VerifiedKey:
    credential: ApiCredential  # with its platform or agency, as read
    generation: int  # the credential generation read in the same statement


# prefix -> a key this process verified; bounded, and dropped whole when full.
_verified_keys: dict[str, _VerifiedKey] = {}
_VERIFIED_KEYS_MAX = 4096


def _generation_current() -> int | None:
    """The credential generation now; None where no trigger keeps it (not PostgreSQL)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT value FROM {CredentialGeneration._meta.db_table} WHERE id = 1"  # noqa: S608  # nosec B608 - table name from model metadata
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def _credential_read(prefix: str) -> ApiCredential | None:
    """The credential, its owner and (as `generation`) the generation, in one snapshot."""
    generation = CredentialGeneration.objects.filter(pk=1).values("value")
    return (
        ApiCredential.objects.select_related("platform", "agency")
        .annotate(generation=Subquery(generation))
        .filter(prefix=prefix)
        .first()
    )


def _credential_find(prefix: str) -> ApiCredential | None:
    """The credential as of now: from memory while the generation is unchanged."""
    remembered = _verified_keys.get(prefix)
    if remembered is not None and remembered.generation == _generation_current():
        return remembered.credential
    return _credential_read(prefix)


def _credential_remember(credential: ApiCredential) -> None:
    generation = getattr(credential, "generation", None)
    if generation is None or connection.vendor != "postgresql":
        return
    if len(_verified_keys) >= _VERIFIED_KEYS_MAX:
        _verified_keys.clear()
    _verified_keys[credential.prefix] = _VerifiedKey(credential=credential, generation=generation)


def verified_keys_forget() -> None:
    """Drop every remembered key (tests restore old rows, generation included)."""
    _verified_keys.clear()


def _credential_usable(credential: ApiCredential) -> bool:
    if credential.revoked_at is not None or (
        credential.expires_at is not None and credential.expires_at <= timezone.now()
    ):
        return False
    if credential.platform is not None:
        return credential.platform.is_active
    return credential.agency is not None and credential.agency.is_active


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiPrincipal, ApiCredential] | None:
        presented = _presented(request, PLATFORM_KEY)
        if presented is None:
            return None
        credential = _credential_find(presented.prefix)
        if credential is None or not secret_matches(presented, credential.key_hash):
            raise exceptions.AuthenticationFailed(_INVALID)
        if not _credential_usable(credential):
            raise exceptions.AuthenticationFailed(_INVALID)
        _credential_remember(credential)
        # Each request gets its own copies, so nothing it changes reaches the next one.
        platform, agency = copy.copy(credential.platform), copy.copy(credential.agency)
        credential = copy.copy(credential)
        credential.platform, credential.agency = platform, agency
        principal = ApiPrincipal(
            credential=credential, platform=platform, agency=agency,
            scopes=frozenset(credential.scopes),
        )
        return principal, credential

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class StaffTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, StaffToken] | None:
        presented = _presented(request, STAFF_TOKEN)
        if presented is None:
            return None
        staff_token = (
            StaffToken.objects.select_related("user").filter(prefix=presented.prefix).first()
        )
        if staff_token is None or not secret_matches(presented, staff_token.key_hash):
            raise exceptions.AuthenticationFailed(_INVALID)
        if (
            staff_token.revoked_at is not None
            or staff_token.expires_at <= timezone.now()
            or not staff_token.user.is_active
        ):
            raise exceptions.AuthenticationFailed(_INVALID)
        return staff_token.user, staff_token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "platformOrAgencyKey"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "Platform or agency API key"}


class StaffTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.StaffTokenAuthentication"
    name = "staffToken"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Staff personal token from POST /api/v1/auth/token",
        }
