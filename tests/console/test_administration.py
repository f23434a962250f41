"""No one person acts as two: administering staff accounts (accounts/services_staff.py).

The hole this closes: a superuser could, in the Django admin, set an approver's password
and add a TOTP device to the approver's account, unlogged, with the approver's tokens
still valid, and so supply both approvals of a request alone. olivia and oscar are the
administrators; mallory is a superuser acting alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import StaffChange, StaffMail, StaffToken
from accounts.roles import Role, RoleConflict
from accounts.services import staff_role_set, staff_sign_in, staff_user_create
from accounts.services_staff import (
    AdministratorRequired,
    SecondAdministratorRequired,
    StaffChangeRefused,
    staff_account_disable,
    staff_change_approve,
    staff_change_propose,
    staff_mail_deliver,
    staff_role_grant,
)
from escrow.log.models import AuditEvent
from legal_requests.models import DisclosureRequest
from legal_requests.services.review import ReviewSeparationOfDuties, disclosure_approve
from tests import factories
from tests.console.conftest import PASSWORD, Story, console_client, otp_code

pytestmark = pytest.mark.django_db

RESET = StaffChange.Kind.PASSWORD_RESET
SECOND_FACTOR = StaffChange.Kind.SECOND_FACTOR_RESET


def _events(user: User) -> list[str]:
    return list(AuditEvent.objects.filter(object_ref=f"staff:{user.pk}")
                .order_by("id").values_list("event_type", flat=True))


def _admin_session(user: User) -> Client:
    """A Django admin session with a verified second factor."""
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.filter(user=user).first().persistent_id
    session.save()
    return client


@pytest.fixture
def mallory(db: Any) -> User:
    user = User.objects.create_superuser("mallory", "mallory@escrow.example", None)
    TOTPDevice.objects.create(user=user, name="mallory phone", confirmed=True)
    return user


@pytest.fixture
def admins(db: Any) -> tuple[User, User]:
    return (factories.staff("olivia", Role.ADMINISTRATOR),
            factories.staff("oscar", Role.ADMINISTRATOR))


def test_a_single_superuser_cannot_supply_two_approvals(story: Story, mallory: User) -> None:
    bob, disclosure = story.bob, story.disclosure
    devices_before = TOTPDevice.objects.filter(user=bob).count()
    admin = _admin_session(mallory)
    # The admin's password form and its device pages, the old way in: refused or absent.
    response = admin.post(f"/admin/auth/user/{bob.pk}/password/",
                          {"password1": "mallory knows this", "password2": "mallory knows this"})
    assert response.status_code == 403
    assert admin.get("/admin/otp_totp/totpdevice/add/").status_code == 404
    assert admin.post("/admin/otp_totp/totpdevice/add/",
                      {"user": bob.pk, "name": "x", "confirmed": "on"}).status_code == 404
    bob.refresh_from_db()
    assert bob.check_password(PASSWORD)
    assert TOTPDevice.objects.filter(user=bob).count() == devices_before
    # The audited reset, alone: she may propose it, never approve it herself.
    change = staff_change_propose(kind=RESET, target=bob, administrator=mallory)
    with pytest.raises(StaffChangeRefused, match="second administrator"):
        staff_change_approve(change=change, administrator=mallory)
    bob.refresh_from_db()
    assert bob.check_password(PASSWORD)
    # Nor can she be the second approver herself, by the service or by the database.
    with pytest.raises(RoleConflict):
        staff_role_set(user=mallory, role=Role.APPROVER, granted=True)
    mallory.groups.add(Group.objects.get_or_create(name=str(Role.APPROVER))[0])
    disclosure_approve(disclosure=disclosure, approver=bob, reason="within scope")
    with pytest.raises(ReviewSeparationOfDuties, match="administrator"):
        disclosure_approve(disclosure=disclosure, approver=mallory, reason="me too")
    disclosure.refresh_from_db()
    assert disclosure.state == DisclosureRequest.State.IN_REVIEW
    assert "staff.change_proposed" in _events(bob)
    assert "staff.password_reset" not in _events(bob)


def test_a_second_administrator_resets_a_password_and_the_owner_alone_learns_it(
    story: Story, admins: tuple[User, User],
) -> None:
    olivia, oscar = admins
    bob = story.bob
    browser = console_client(bob)
    token = staff_sign_in(username="bob", password=PASSWORD,
                          otp_code=otp_code(bob, drift=1)).token
    change = staff_change_propose(kind=RESET, target=bob, administrator=olivia)
    with pytest.raises(AdministratorRequired):
        staff_change_approve(change=change, administrator=bob)
    staff_change_approve(change=change, administrator=oscar)

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert browser.get("/console/").status_code == 302  # the session is gone
    bob.refresh_from_db()
    assert not bob.check_password(PASSWORD)
    notice = StaffMail.objects.get(user=bob, kind="password_reset")
    assert notice.secret_sealed is not None
    assert "{temporary_password}" in notice.body
    assert _events(bob)[-3:] == ["staff.change_proposed", "staff.change_approved",
                                 "staff.password_reset"]
    assert staff_mail_deliver(mail_id=notice.pk) == StaffMail.State.SENT
    notice.refresh_from_db()
    assert notice.secret_sealed is None
    temporary = mail.outbox[-1].body.split("Temporary password: ")[1].split()[0]
    assert mail.outbox[-1].to == ["bob@escrow.example"]
    assert staff_sign_in(username="bob", password=temporary,
                         otp_code=otp_code(bob, drift=2)).token.user_id == bob.pk
    # What the log says carries neither the password nor the address.
    leaves = b"".join(bytes(e.entry) for e in AuditEvent.objects.all())
    assert temporary.encode() not in leaves
    assert b"bob@escrow.example" not in leaves


def test_a_second_factor_reset_removes_the_devices_and_the_owner_enrols_again(
    story: Story, admins: tuple[User, User],
) -> None:
    olivia, oscar = admins
    frank = story.frank  # a custodian
    browser = console_client(frank)
    change = staff_change_propose(kind=SECOND_FACTOR, target=frank, administrator=oscar)
    with pytest.raises(StaffChangeRefused, match="already waiting"):
        staff_change_propose(kind=SECOND_FACTOR, target=frank, administrator=olivia)
    staff_change_approve(change=change, administrator=olivia)
    assert not TOTPDevice.objects.filter(user=frank).exists()
    assert browser.get("/console/").status_code == 302
    assert StaffMail.objects.filter(user=frank, kind="second_factor_reset",
                                    state=StaffMail.State.PENDING).exists()
    assert "staff.second_factor_reset" in _events(frank)
    # A password and no device: the console's first-sign-in enrolment takes over.
    response = Client().post("/console/sign-in", {"username": "frank", "password": PASSWORD})
    assert response.status_code == 302
    assert "second-factor" in response["Location"]
    with pytest.raises(StaffChangeRefused, match="already executed"):
        staff_change_approve(change=change, administrator=oscar)


def test_administrators_hold_no_approver_or_custodian_role(admins: tuple[User, User]) -> None:
    olivia, oscar = admins
    with pytest.raises(RoleConflict):
        staff_user_create(username="eve", email="eve@escrow.example", password=PASSWORD,
                          roles=[Role.ADMINISTRATOR, Role.APPROVER])
    with pytest.raises(RoleConflict):
        staff_role_set(user=olivia, role=Role.CUSTODIAN, granted=True)
    with pytest.raises(RoleConflict):
        staff_change_propose(kind=StaffChange.Kind.ROLE_GRANT, target=oscar,
                             administrator=olivia, role=Role.APPROVER)
    bob = factories.staff("bob", Role.APPROVER)
    with pytest.raises(RoleConflict):
        staff_role_set(user=bob, role=Role.ADMINISTRATOR, granted=True)
    assert not olivia.groups.filter(name__in=["approver", "custodian"]).exists()


def test_an_administrator_in_the_custodian_group_cannot_consent(
    story: Story, admins: tuple[User, User],
) -> None:
    from legal_requests.services.release.preconditions import (
        ReleaseSeparationOfDuties,
        release_custodian_shares,
    )

    olivia, _ = admins
    olivia.groups.add(Group.objects.get(name=str(Role.CUSTODIAN)))  # around the services
    with pytest.raises(ReleaseSeparationOfDuties, match="administrator"):
        release_custodian_shares(disclosure=story.disclosure, custodian=olivia, epochs=[1])


def test_privileged_roles_need_a_second_administrator(admins: tuple[User, User]) -> None:
    olivia, oscar = admins
    erin = factories.staff("erin")
    with pytest.raises(SecondAdministratorRequired):
        staff_role_grant(user=erin, role=Role.APPROVER, administrator=olivia)
    staff_role_grant(user=erin, role=Role.AUDITOR, administrator=olivia)
    change = staff_change_propose(kind=StaffChange.Kind.ROLE_GRANT, target=erin,
                                  administrator=olivia, role=Role.APPROVER)
    assert not erin.groups.filter(name="approver").exists()
    staff_change_approve(change=change, administrator=oscar)
    assert sorted(erin.groups.values_list("name", flat=True)) == ["approver", "auditor"]
    assert _events(erin)[-3:] == ["staff.change_proposed", "staff.change_approved",
                                  "staff.role_granted"]
    # Nobody approves a change to their own account, nor proposes one.
    own = staff_change_propose(kind=RESET, target=oscar, administrator=olivia)
    with pytest.raises(StaffChangeRefused, match="own account"):
        staff_change_approve(change=own, administrator=oscar)
    with pytest.raises(StaffChangeRefused, match="own account"):
        staff_change_propose(kind=SECOND_FACTOR, target=olivia, administrator=olivia)


def test_disabling_an_account_ends_its_tokens_and_sessions(
    story: Story, admins: tuple[User, User],
) -> None:
    olivia, _ = admins
    carol = story.carol
    browser = console_client(carol)
    token = staff_sign_in(username="carol", password=PASSWORD,
                          otp_code=otp_code(carol, drift=1)).token
    staff_account_disable(user=carol, administrator=olivia)
    assert StaffToken.objects.get(pk=token.pk).revoked_at is not None
    assert browser.get("/console/").status_code == 302
    assert _events(carol)[-1] == "staff.disabled"
    assert StaffMail.objects.filter(user=carol, kind="account_disabled").exists()


def test_changepassword_cannot_set_an_approvers_password(
    story: Story, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An operator's shell command is refused for privileged accounts (they are reset by
    two administrators) and logged, with tokens revoked, for the others."""
    from django.contrib.auth.management.commands import changepassword

    monkeypatch.setattr(changepassword.Command, "_get_pass",
                        lambda self, prompt="": "a long new pass phrase 7")
    with pytest.raises(CommandError, match="Aborting"):
        call_command("changepassword", "bob")
    story.bob.refresh_from_db()
    assert story.bob.check_password(PASSWORD)

    alice = story.alice  # an intake officer
    token = staff_sign_in(username="alice", password=PASSWORD, otp_code=otp_code(alice)).token
    call_command("changepassword", "alice")
    assert StaffToken.objects.get(pk=token.pk).revoked_at is not None
    event = AuditEvent.objects.filter(object_ref=f"staff:{alice.pk}").latest("id")
    assert (event.event_type, event.actor_kind) == ("staff.password_changed", "system")


def test_the_django_admin_is_read_only_and_needs_the_second_factor(
    story: Story, mallory: User,
) -> None:
    from legal_requests.models import LegalBasis

    basis = LegalBasis.objects.first()
    no_otp = Client()
    no_otp.force_login(mallory)
    assert no_otp.get("/admin/").status_code == 302  # to the OTP sign-in
    admin = _admin_session(mallory)
    assert admin.get("/admin/").status_code == 200
    assert admin.get(f"/admin/legal_requests/legalbasis/{basis.pk}/change/").status_code == 200
    refused = [
        (f"/admin/legal_requests/legalbasis/{basis.pk}/change/", {"approvals_required": "1"}),
        ("/admin/legal_requests/legalbasis/add/", {}),
        (f"/admin/legal_requests/disclosurerequest/{story.disclosure.pk}/delete/",
         {"post": "yes"}),
        (f"/admin/auth/user/{story.bob.pk}/change/", {"is_active": ""}),
        ("/admin/auth/user/add/", {}),
    ]
    assert [admin.post(url, data).status_code for url, data in refused] == [403] * len(refused)
    assert admin.get("/admin/auth/group/").status_code == 404
    assert admin.get("/admin/otp_totp/totpdevice/").status_code == 404
    assert admin.get("/admin/accounts/staffchange/").status_code == 200  # visible, read-only
    # Staff without the administrator role are not let in, even with is_staff.
    bob = story.bob
    bob.is_staff = True
    bob.save(update_fields=["is_staff"])
    assert _admin_session(bob).get("/admin/").status_code == 302


def test_the_database_refuses_one_person_as_both_administrators(
    admins: tuple[User, User],
) -> None:
    from django.db import IntegrityError, transaction

    olivia, _ = admins
    bob = factories.staff("bob", Role.APPROVER)
    change = staff_change_propose(kind=RESET, target=bob, administrator=olivia)
    with pytest.raises(IntegrityError), transaction.atomic():
        StaffChange.objects.filter(pk=change.pk).update(state="executed", decided_by=olivia)
    with pytest.raises(IntegrityError), transaction.atomic():
        StaffChange.objects.filter(pk=change.pk).update(decided_by=bob)
