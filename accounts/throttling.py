"""Per-credential rate limits, counted in the shared cache (Redis outside the demo)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from accounts.authentication import ApiPrincipal


class CredentialRateThrottle(SimpleRateThrottle):
    scope = "credential"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        principal = request.user
        if isinstance(principal, ApiPrincipal):
            ident = principal.pk
        elif getattr(principal, "is_authenticated", False):
            ident = f"staff:{principal.pk}"  # type: ignore[union-attr]
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class SignInRateThrottle(SimpleRateThrottle):
    """Slows password and TOTP guessing per client address."""

    scope = "auth"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
