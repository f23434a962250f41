"""Who may open a console page: a signed-in, second-factor-verified staff member with
one of the page's roles, whose session has not been idle too long.

Anyone else is sent to the sign-in page (and back afterwards); a signed-in member
without the role gets the 403 page: a wrong role's direct URL is refused, not hidden.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse
from django.views import View

from accounts.roles import ALL_ROLES, Role
from accounts.selectors import user_has_role

LAST_SEEN_KEY = "console_last_seen"


def staff_roles(request: HttpRequest) -> set[str]:
    """The console roles of whoever made the request (empty when not signed in)."""
    user = request.user
    if not user.is_authenticated or not _verified(request):
        return set()
    return {str(role) for role in ALL_ROLES if user_has_role(user, role)}


def _verified(request: HttpRequest) -> bool:
    # django-otp's middleware: True once a second factor checked this session.
    return bool(getattr(request.user, "is_verified", lambda: False)())


def session_start(request: HttpRequest) -> None:
    request.session[LAST_SEEN_KEY] = int(time.time())


def _idle_expired(request: HttpRequest) -> bool:
    last_seen = request.session.get(LAST_SEEN_KEY)
    if not isinstance(last_seen, int):
        return True
    return time.time() - last_seen > settings.CONSOLE_IDLE_TIMEOUT_SECONDS


def sign_in_redirect(request: HttpRequest) -> HttpResponse:
    return redirect_to_login(request.get_full_path(), reverse("console-sign-in"))


class StaffPage(View):
    """A console view for signed-in staff holding one of `roles` (any role if empty)."""

    roles: tuple[Role, ...] = ()

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated or not _verified(request):
            return sign_in_redirect(request)
        if _idle_expired(request):
            logout(request)
            messages.info(request, "You were signed out after a period of inactivity.")
            return sign_in_redirect(request)
        session_start(request)
        allowed = self.roles or ALL_ROLES
        if not any(user_has_role(request.user, role) for role in allowed):
            raise PermissionDenied("this page needs another staff role")
        return super().dispatch(request, *args, **kwargs)
