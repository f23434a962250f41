"""A password validator that closes the side doors to a staff account's password.

Django calls `validate` wherever a password is chosen through its forms and commands
(`manage.py changepassword`, `createsuperuser`, the admin's password form), and
`password_changed` after any `set_password()` is saved. The audited services set
passwords without either (accounts/services_staff.py), so:

- an approver's, custodian's or administrator's password cannot be chosen through those
  doors at all: it is reset by two administrators (the console's Staff pages);
- any other password set outside the services is a log event, and ends the account's
  tokens and sessions as a reset does.

Someone with a shell on the server or the database can still write the column
directly; docs/threat-model.md says what the log and the mail catch then.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from accounts.roles import PRIVILEGED_ROLES
from accounts.services_staff import staff_password_changed_elsewhere


def _privileged(user: Any) -> bool:
    if not isinstance(user, User) or user.pk is None:
        return False
    names = {str(role) for role in PRIVILEGED_ROLES}
    return user.is_superuser or user.groups.filter(name__in=names).exists()


class TwoAdministratorPasswordValidator:
    def validate(self, password: str, user: Any = None) -> None:
        if _privileged(user):
            raise ValidationError(
                "This account's password is reset only by two administrators, in the "
                "console's Staff pages.",
                code="password_two_administrators",
            )

    def password_changed(self, password: str, user: Any = None) -> None:
        if isinstance(user, User) and user.pk is not None:
            staff_password_changed_elsewhere(user=user)

    def get_help_text(self) -> str:
        return ("An approver's, custodian's or administrator's password is reset only by "
                "two administrators.")
