"""Operators run the service through management commands, never the shell."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
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


def _admin_client(client: Any) -> tuple[Any, User]:
    """A superuser signed in to the admin with password and a verified TOTP device."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    root = User.objects.create_superuser("root", "root@example.org", "unused-password")
    device = TOTPDevice.objects.create(user=root, name="root phone", confirmed=True)
    client.force_login(root)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client, root


def test_admin_edits_cannot_change_roles_or_superuser_status(client: Any) -> None:
    client, _ = _admin_client(client)
    factories.staff("erin", Role.APPROVER)
    erin = User.objects.get(username="erin")
    page = client.get(f"/admin/auth/user/{erin.pk}/change/")
    assert page.status_code == 200
    auditor = Group.objects.get_or_create(name=str(Role.AUDITOR))[0]
    response = client.post(f"/admin/auth/user/{erin.pk}/change/", {
        "username": "erin", "first_name": "", "last_name": "", "email": "erin@example.org",
        "is_active": "on", "is_staff": "on", "is_superuser": "on",
        "groups": [auditor.pk], "last_login_0": "", "last_login_1": "",
        "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
    })
    assert response.status_code == 403  # the admin is read-only
    erin.refresh_from_db()
    assert not erin.is_superuser
    assert sorted(erin.groups.values_list("name", flat=True)) == [str(Role.APPROVER)]
    assert client.get("/admin/auth/group/").status_code == 404


def test_admin_edits_cannot_change_callback_contacts(client: Any) -> None:
    client, _ = _admin_client(client)
    agency, _ = factories.agency_with_key()
    before = (agency.callback_phone, agency.callback_email, agency.jurisdiction_id)
    response = client.post(f"/admin/accounts/agency/{agency.pk}/change/", {
        "name": agency.name, "is_active": "on",
        "callback_phone": "+44 7700 900999", "callback_email": "attacker@example.org",
        "jurisdiction": "US",
    })
    assert response.status_code == 403  # the admin is read-only
    agency.refresh_from_db()
    assert (agency.callback_phone, agency.callback_email, agency.jurisdiction_id) == before
    assert client.get("/admin/accounts/agency/add/").status_code == 403


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"PRODUCTION": True, "DEBUG": True}, "escrow.E001"),
        ({"PRODUCTION": False, "DEBUG": True, "ALLOWED_HOSTS": ["escrow.example.org"]},
         "escrow.W001"),
        ({"PRODUCTION": True, "DEBUG": False, "ESCROW_SERVICE_SECRET": "short"}, "escrow.E003"),
        ({"PRODUCTION": True, "DEBUG": False, "ESCROW_TOTP_SEED_KEY": "short"}, "escrow.E003"),
    ],
)
def test_misconfiguration_is_a_system_check(settings: Any, overrides: dict[str, Any],
                                            code: str) -> None:
    for name, value in overrides.items():
        setattr(settings, name, value)
    assert code in [problem.id for problem in check_production_safety(None)]
