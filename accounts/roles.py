"""Staff roles, held as Django groups so an operator can see and audit them."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    INTAKE_OFFICER = "intake_officer"
    APPROVER = "approver"
    CUSTODIAN = "custodian"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"


ALL_ROLES = tuple(Role)

# An administrator controls accounts: set a password, reset a second factor. Holding
# also a role that acts on a disclosure would let one person be two approvers (their
# own and an account they took over), so no one holds both (DESIGN.md guarantee 5).
DISCLOSURE_ROLES = frozenset({Role.APPROVER, Role.CUSTODIAN})
# Granting one of these takes two administrators: each could otherwise make a second
# approver, custodian or administrator they control.
PRIVILEGED_ROLES = frozenset({Role.APPROVER, Role.CUSTODIAN, Role.ADMINISTRATOR})


class RoleConflict(Exception):
    """The roles would let an administrator also approve or release."""


def roles_check(roles: Iterable[str], *, superuser: bool = False) -> None:
    """Refuse a set of roles that makes one person both administrator and approver or
    custodian; Django's superuser flag counts as administrator, never as an exemption."""
    held = {str(role) for role in roles}
    if (superuser or Role.ADMINISTRATOR in held) and held & set(DISCLOSURE_ROLES):
        raise RoleConflict("an administrator cannot also be an approver or a custodian")
