"""DRF authentication for `Authorization: Bearer <key>`.

Platform and agency keys resolve to a principal (not a Django user); staff tokens
resolve to the staff member. Each costs one indexed query by prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import Agency, ApiCredential, Platform, StaffToken
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


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiPrincipal, ApiCredential] | None:
        presented = _presented(request, PLATFORM_KEY)
        if presented is None:
            return None
        credential = (
            ApiCredential.objects.select_related("platform", "agency")
            .filter(prefix=presented.prefix)
            .first()
        )
        if credential is None or not secret_matches(presented, credential.key_hash):
            raise exceptions.AuthenticationFailed(_INVALID)
        now = timezone.now()
        if credential.revoked_at is not None or (
            credential.expires_at is not None and credential.expires_at <= now
        ):
            raise exceptions.AuthenticationFailed(_INVALID)
        owner_active = (
            credential.platform.is_active
            if credential.platform is not None
            else credential.agency is not None and credential.agency.is_active
        )
        if not owner_active:
            raise exceptions.AuthenticationFailed(_INVALID)
        principal = ApiPrincipal(
            credential=credential,
            platform=credential.platform,
            agency=credential.agency,
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
