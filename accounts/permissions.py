from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.authentication import ApiPrincipal
from accounts.roles import Role
from accounts.selectors import user_has_role


class PlatformScope(BasePermission):
    """The caller is a platform key holding the view's `required_scope`."""

    message = "this endpoint needs a platform API key with the right scope"

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = request.user
        if not isinstance(principal, ApiPrincipal) or principal.platform is None:
            return False
        scope = getattr(view, "required_scope", None)
        if isinstance(scope, dict):
            scope = scope.get(request.method or "")
        return scope is None or scope in principal.scopes


class AgencyKey(BasePermission):
    message = "this endpoint needs an agency API key"

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = request.user
        return isinstance(principal, ApiPrincipal) and principal.agency is not None


def HasRole(*roles: Role) -> type[BasePermission]:
    class _HasRole(BasePermission):
        message = f"this endpoint needs the role {' or '.join(str(r) for r in roles)}"

        def has_permission(self, request: Request, view: Any) -> bool:
            return any(user_has_role(request.user, role) for role in roles)

    return _HasRole
