"""The authenticated caller of an API view, typed.

DRF types `request.user` loosely (a user, an anonymous user or, here, an API key's
principal). Views ask these functions instead; each raises PermissionDenied where the
view's permission class should already have refused, so a misconfigured view fails
closed rather than with an AttributeError.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from rest_framework import exceptions
from rest_framework.request import Request

from accounts.authentication import ApiPrincipal
from accounts.models import Agency, Platform


def calling_agency(request: Request) -> Agency | None:
    """The agency whose API key made the call, or None for any other caller."""
    principal = request.user
    if isinstance(principal, ApiPrincipal):
        return principal.agency
    return None


def required_agency(request: Request) -> Agency:
    agency = calling_agency(request)
    if agency is None:  # AgencyKey on the view makes this unreachable
        raise exceptions.PermissionDenied()
    return agency


def required_platform(request: Request) -> Platform:
    principal = request.user
    if not isinstance(principal, ApiPrincipal) or principal.platform is None:
        raise exceptions.PermissionDenied()  # PlatformScope on the view refuses first
    return principal.platform


def required_staff(request: Request) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise exceptions.PermissionDenied()  # HasRole on the view refuses first
    return user
