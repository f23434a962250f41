"""The administrators' console pages: staff, platforms and keys, webhooks, agencies.

olivia and oscar are the administrators; bob the approver whose password is reset.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from accounts.models import Agency, ApiCredential, StaffChange, StaffMail, WebhookEndpoint
from accounts.roles import Role
from accounts.secrets import secret_digest
from escrow.log.models import AuditEvent
from tests import factories
from tests.console.conftest import Story, console_client, otp_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def admins(db: Any) -> tuple[User, User]:
    return (factories.staff("olivia", Role.ADMINISTRATOR),
            factories.staff("oscar", Role.ADMINISTRATOR))


def test_two_administrators_reset_an_approvers_password_in_the_console(
    story: Story, admins: tuple[User, User],
) -> None:
    olivia, oscar = admins
    bob_browser = console_client(story.bob)
    as_olivia, as_oscar = console_client(olivia), console_client(oscar)
    page = as_olivia.get(f"/console/administration/staff/{story.bob.pk}/")
    assert page.status_code == 200
    assert b"Propose the reset" in page.content

    proposed = as_olivia.post(f"/console/administration/staff/{story.bob.pk}/reset", {
        "kind": "password_reset", "otp_code": otp_code(olivia, drift=1)}, follow=True)
    assert b"second administrator approves it" in proposed.content
    change = StaffChange.objects.get(target=story.bob, state="proposed")
    # olivia's own approval is refused in words; nothing changes.
    refused = as_olivia.post(f"/console/administration/staff/changes/{change.pk}", {
        "decision": "approve", "otp_code": otp_code(olivia, drift=2)}, follow=True)
    assert b"a second administrator must approve your proposal" in refused.content
    assert bob_browser.get("/console/").status_code == 200

    done = as_oscar.post(f"/console/administration/staff/changes/{change.pk}", {
        "decision": "approve", "otp_code": otp_code(oscar, drift=1)}, follow=True)
    assert b"approved and made" in done.content
    assert bob_browser.get("/console/").status_code == 302  # bob's session ended
    assert StaffMail.objects.filter(user=story.bob, kind="password_reset").exists()
    steps = list(AuditEvent.objects.filter(event_type="staff.stepped_up")
                 .values_list("actor_ref", flat=True))
    assert str(oscar.pk) in steps


def test_a_wrong_code_changes_nothing(story: Story, admins: tuple[User, User]) -> None:
    olivia, _ = admins
    response = console_client(olivia).post(
        f"/console/administration/staff/{story.bob.pk}/reset",
        {"kind": "second_factor_reset", "otp_code": "000000"})
    assert response.status_code == 403
    assert b"wrong or already used" in response.content
    assert not StaffChange.objects.exists()


def test_a_privileged_grant_is_proposed_and_an_unprivileged_one_made(
    admins: tuple[User, User],
) -> None:
    olivia, oscar = admins
    erin = factories.staff("erin")
    client = console_client(olivia)
    url = f"/console/administration/staff/{erin.pk}/roles"
    client.post(url, {"role": "approver", "action": "grant",
                      "otp_code": otp_code(olivia, drift=1)})
    granted = client.post(url, {"role": "auditor", "action": "grant",
                                "otp_code": otp_code(olivia, drift=2)})
    assert granted.status_code == 302, granted.content.decode()[-3000:]
    assert list(erin.groups.values_list("name", flat=True)) == ["auditor"]
    assert StaffChange.objects.get(target=erin).role == "approver"
    # An administrator cannot be made an approver, nor change their own roles.
    other = client.post(f"/console/administration/staff/{oscar.pk}/roles", {
        "role": "approver", "action": "grant", "otp_code": otp_code(olivia, drift=3)})
    assert other.status_code == 403
    assert b"cannot also be an approver" in other.content
    own = client.post(f"/console/administration/staff/{olivia.pk}/roles", {
        "role": "auditor", "action": "grant", "otp_code": otp_code(olivia, drift=4)})
    assert own.status_code == 409
    assert b"your own roles" in own.content
    assert StaffChange.objects.count() == 1


def test_an_api_key_is_shown_once_and_revoked_with_a_step_up(admins: tuple[User, User]) -> None:
    olivia, _ = admins
    platform, _ = factories.platform_with_key(name="Chirper")
    client = console_client(olivia)
    issued = client.post(f"/console/administration/platforms/{platform.pk}/keys",
                         {"label": "signup", "otp_code": otp_code(olivia, drift=1)})
    assert issued.status_code == 200
    assert issued["Cache-Control"] == "no-store"
    credential = ApiCredential.objects.get(platform=platform, label="signup")
    key = issued.content.decode().split('id="issued-key">')[1].split("<")[0]
    assert secret_digest(key) == bytes(credential.key_hash)
    assert key.encode() not in client.get(
        f"/console/administration/platforms/{platform.pk}/").content
    client.post(f"/console/administration/keys/{credential.pk}/revoke",
                {"otp_code": otp_code(olivia, drift=2)})
    credential.refresh_from_db()
    assert credential.revoked_at is not None


def test_webhook_history_is_read_only_and_an_endpoint_can_be_disabled(
    admins: tuple[User, User], settings: Any,
) -> None:
    from accounts.services import webhook_endpoint_create, webhook_endpoint_ping

    settings.WEBHOOK_ALLOW_HTTP_LOOPBACK = True
    olivia, _ = admins
    platform, _ = factories.platform_with_key(name="Chirper")
    endpoint = webhook_endpoint_create(platform=platform,
                                       url="http://127.0.0.1:9/hook").endpoint
    webhook_endpoint_ping(endpoint=endpoint)
    client = console_client(olivia)
    page = client.get(f"/console/administration/webhooks/{endpoint.pk}/")
    assert b"webhook.test" in page.content
    assert endpoint.signing_secret.encode() not in page.content
    client.post(f"/console/administration/webhooks/{endpoint.pk}/disable")
    assert not WebhookEndpoint.objects.get(pk=endpoint.pk).is_active


def test_an_agency_needs_an_e164_call_back_number(admins: tuple[User, User]) -> None:
    olivia, _ = admins
    factories.jurisdiction_enabled("GB-EAW")
    client = console_client(olivia)
    form = {"name": "Thames Valley Police", "jurisdiction": "GB-EAW",
            "callback_email": "duty@tvp.police.example"}
    bad = client.post("/console/administration/agencies/", {**form, "callback_phone": "0207 946"})
    assert bad.status_code == 400
    assert b"international form" in bad.content
    assert not Agency.objects.filter(name="Thames Valley Police").exists()
    client.post("/console/administration/agencies/",
                {**form, "callback_phone": "+44 (20) 7946-0000"})
    assert Agency.objects.get(name="Thames Valley Police").callback_phone == "+442079460000"
