"""Staff roles, held as Django groups so an operator can see and audit them."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    INTAKE_OFFICER = "intake_officer"
    APPROVER = "approver"
    CUSTODIAN = "custodian"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"


ALL_ROLES = tuple(Role)
