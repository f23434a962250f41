"""Operators run the service through management commands, never the shell."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.checks import check_production_safety
from accounts.models import ApiCredential, Platform
from accounts.roles import Role
from escrow.log.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_platform_key_issue_rotate_revoke(escrow_keypair: Any) -> None:
    output = run("create_platform", "--name", "Chirp")
    key = re.search(r"(esk_\S+)", output).group(1)  # type: ignore[union-attr]
    platform = Platform.objects.get(name="Chirp")
    prefix = ApiCredential.objects.get(platform=platform).prefix
    assert prefix in run("credential", "list", "--platform", "Chirp")
    rotated = run("credential", "rotate", prefix, "--overlap-hours", "0")
    new_key = re.search(r"(esk_\S+)", rotated).group(1)  # type: ignore[union-attr]
    old_client, new_client = APIClient(), APIClient()
    old_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    new_client.credentials(HTTP_AUTHORIZATION=f"Bearer {new_key}")
    probe = "/api/v1/enrolments/PSN-0000-0000-0000-0000-0"
    assert old_client.get(probe).status_code == 401
    assert new_client.get(probe).status_code == 404
    new_prefix = new_key.split("_")[1]
    run("credential", "revoke", new_prefix)
    assert new_client.get(probe).status_code == 401
    types = set(AuditEvent.objects.values_list("event_type", flat=True))
    assert {"platform.created", "credential.created", "credential.rotated",
            "credential.revoked"} <= types


def test_role_changes_are_audited() -> None:
    factories.staff("erin", Role.APPROVER)
    erin = User.objects.get(username="erin")
    assert "granted auditor" in run("staff_role", "grant", "erin", "auditor")
    assert erin.groups.filter(name="auditor").exists()
    run("staff_role", "revoke", "erin", "approver")
    assert not erin.groups.filter(name="approver").exists()
    events = list(AuditEvent.objects.filter(object_ref=f"staff:{erin.pk}")
                  .values_list("event_type", flat=True))
    assert "staff.role_granted" in events
    assert "staff.role_revoked" in events


def test_console_cannot_change_roles_or_callback_contacts() -> None:
    from django.contrib import admin

    from accounts.models import Agency

    user_admin = admin.site._registry[User]
    assert "groups" in user_admin.readonly_fields
    assert "is_superuser" in user_admin.readonly_fields
    agency_admin = admin.site._registry[Agency]
    assert "callback_phone" in agency_admin.readonly_fields
    from django.contrib.auth.models import Group

    assert Group not in admin.site._registry


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"PRODUCTION": True, "DEBUG": True}, "escrow.E001"),
        ({"PRODUCTION": False, "DEBUG": True, "ALLOWED_HOSTS": ["escrow.example.org"]},
         "escrow.W001"),
        ({"PRODUCTION": True, "DEBUG": False, "ESCROW_SERVICE_SECRET": "short"}, "escrow.E003"),
    ],
)
def test_misconfiguration_is_a_system_check(settings: Any, overrides: dict[str, Any],
                                            code: str) -> None:
    for name, value in overrides.items():
        setattr(settings, name, value)
    assert code in [problem.id for problem in check_production_safety(None)]
