"""Reads of accounts: who holds which staff role."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from accounts.roles import Role


def user_has_role(user: Any, role: Role) -> bool:
    """Whether `user` is a signed-in staff member holding `role` (never an API key)."""
    # An API key's principal is not a User, so it never holds a staff role.
    if not isinstance(user, User) or not user.is_authenticated:
        return False
    return bool(user.groups.filter(name=str(role)).exists())
