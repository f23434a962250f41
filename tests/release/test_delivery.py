"""Delivery that cannot be lost: every mail goes through the outbox, is retried, and is
dead-lettered (logged, visible) rather than dropped; a lost download secret can be
reissued by an approver, and the agency then fetches its package."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from escrow.log.models import AuditEvent
from legal_requests.models import DisclosureRequest, OutgoingMail, Release
from legal_requests.services import notifications
from legal_requests.services.mail import mail_send_due
from legal_requests.services.release.sealing import download_secret_unseal
from tests.release import mail_backends
from tests.release.conftest import RELEASE_TEST_APPS, World, approved_request, enrol, world_build
from tests.release.test_release_api import assert_problem, submit

pytestmark = pytest.mark.django_db(transaction=True, available_apps=RELEASE_TEST_APPS)

FAILING = "tests.release.mail_backends.FailingEmailBackend"
WORKING = "django.core.mail.backends.locmem.EmailBackend"
OFFICER = "olivia.wood@met.police.example"


@pytest.fixture
def keyless(transactional_db: Any, eager_tasks: Any, patient_log: None) -> World:
    return world_build(agency_key=False)


@pytest.fixture
def mail_server_down(settings: Any) -> Any:
    settings.EMAIL_BACKEND = FAILING
    settings.MAIL_MAX_ATTEMPTS = 3
    mail_backends.attempts.clear()
    return settings


def released(world: World) -> DisclosureRequest:
    request = approved_request(world, [enrol(world)])
    for name in ("frank", "grace", "heidi"):
        assert submit(world, request, name).status_code == 201
    request.refresh_from_db()
    assert request.state == "released"
    return request


def details(event: AuditEvent) -> dict[str, Any]:
    return json.loads(bytes(event.entry))["details"]


def secret_from_mail() -> str:
    (message,) = mail.outbox
    assert message.to == [OFFICER]
    line = next(x for x in message.body.splitlines() if "Download-Secret:" in x)
    return line.split(":", 1)[1].strip()


def package_url(request: DisclosureRequest) -> str:
    return f"/api/v1/disclosure-requests/{request.pk}/package"


def reissue(world: World, user: Any, request: DisclosureRequest) -> Any:
    return world.staff_client(user).post(
        f"{package_url(request)}/reissue-secret",
        {"reason": "The officer's mailbox bounced the first secret."}, format="json",
    )


def test_download_secret_mail_is_retried_dead_lettered_and_reissued_to_the_agency(
    keyless: World, mail_server_down: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    request = released(keyless)
    # The release is done; the mail is not lost but waits in the outbox, sealed.
    (queued,) = OutgoingMail.objects.filter(kind="download_secret")
    assert queued.state == "pending"
    assert queued.attempts == 1
    assert queued.last_error == "SMTPServerDisconnected"
    assert mail_backends.attempts == [f"Disclosure package ready: {request.reference}"]
    release = Release.objects.get()
    secret = download_secret_unseal(disclosure=request,
                                    sealed=bytes(release.download_secret_sealed or b""))
    assert secret.encode() not in bytes(queued.secret_sealed or b"")
    assert secret not in queued.body
    assert secret.encode() not in bytes(release.download_secret_sealed or b"")

    # Retried by the beat scan (not before it is due), then given up: dead, and logged.
    assert mail_send_due() == 0
    assert OutgoingMail.objects.get().attempts == 1
    later = timezone.now() + timedelta(hours=2)
    mail_send_due(now=later)
    assert OutgoingMail.objects.get().attempts == 2
    mail_send_due(now=later + timedelta(hours=2))
    dead = OutgoingMail.objects.get()
    assert (dead.state, dead.attempts, dead.secret_sealed) == ("dead", 3, None)
    assert len(mail_backends.attempts) == 3
    mail_send_due(now=later + timedelta(hours=4))
    assert len(mail_backends.attempts) == 3  # a dead message is not tried again
    (event,) = AuditEvent.objects.filter(event_type="disclosure.mail_dead_lettered")
    assert details(event) == {
        "reference": request.reference, "mail_id": str(dead.pk), "kind": "download_secret",
        "attempts": 3, "last_error": "SMTPServerDisconnected",
    }
    assert OFFICER.encode() not in bytes(event.entry)
    # Staff following the release see it; no log line carries the address or the secret.
    status = keyless.staff_client(keyless.bob).get(f"/api/v1/releases/{request.pk}").json()
    assert status["download_secret_mail"]["state"] == "dead"
    assert status["download_secret_mail"]["last_error"] == "SMTPServerDisconnected"
    assert "SMTPServerDisconnected" in caplog.text
    assert OFFICER not in caplog.text
    assert secret not in caplog.text

    # The mail server is back; an approver reissues the secret.
    mail_server_down.EMAIL_BACKEND = WORKING
    response = reissue(keyless, keyless.bob, request)
    assert response.status_code == 202, response.content
    assert response.json()["reference"] == request.reference
    (reissued,) = AuditEvent.objects.filter(event_type="disclosure.download_secret_reissued")
    assert reissued.actor_ref == str(keyless.bob.pk)
    assert reissued.sealed_detail is not None  # the reason, sealed
    new_secret = secret_from_mail()
    assert new_secret != secret
    assert OutgoingMail.objects.get(pk=response.json()["mail_id"]).state == "sent"
    assert OutgoingMail.objects.get(pk=response.json()["mail_id"]).secret_sealed is None

    client = keyless.agency_client()
    # The old secret no longer opens anything.
    assert_problem(client.get(package_url(request), HTTP_DOWNLOAD_SECRET=secret), 403,
                   "download_secret_invalid")
    fetched = client.get(package_url(request), HTTP_DOWNLOAD_SECRET=new_secret)
    assert fetched.status_code == 200, fetched.content
    (subject,) = json.loads(fetched.content)["content"]["subjects"]
    assert subject["fields"]["family_name"] == "Quartermainezz"
    # Whatever opened the package is gone with it.
    release.refresh_from_db()
    assert (release.package_sealed, release.download_secret_sealed) == (None, None)


def test_a_pending_secret_mail_is_cancelled_by_a_reissue(
    keyless: World, mail_server_down: Any
) -> None:
    request = released(keyless)
    assert reissue(keyless, keyless.carol, request).status_code == 202
    states = sorted(OutgoingMail.objects.values_list("state", "attempts"))
    # The first is withdrawn (its secret dropped); the second waits for the server.
    assert states == [("cancelled", 1), ("pending", 1)]
    assert OutgoingMail.objects.get(state="cancelled").secret_sealed is None


def test_only_an_approver_who_held_no_share_of_the_release_reissues_a_secret(
    keyless: World
) -> None:
    from accounts.roles import Role
    from accounts.services import staff_role_set

    request = released(keyless)
    frank = keyless.custodians["frank"]  # supplied a share, and is also made an approver
    staff_role_set(user=frank, role=Role.APPROVER, granted=True)
    assert_problem(reissue(keyless, frank, request), 403, "separation_of_duties")
    assert reissue(keyless, keyless.alice, request).status_code == 403  # intake, no approver
    assert keyless.agency_client().post(
        f"{package_url(request)}/reissue-secret", {"reason": "x"}, format="json"
    ).status_code in (401, 403)
    assert not AuditEvent.objects.filter(
        event_type="disclosure.download_secret_reissued").exists()
    # Once fetched, there is nothing left to reissue.
    keyless.agency_client().get(package_url(request), HTTP_DOWNLOAD_SECRET=secret_from_mail())
    assert_problem(reissue(keyless, keyless.bob, request), 404, "package_not_available")


def test_a_package_sealed_to_the_agency_key_has_no_secret_to_reissue(world: World) -> None:
    request = released(world)
    assert not OutgoingMail.objects.filter(kind="download_secret").exists()
    assert_problem(reissue(world, world.bob, request), 409, "download_secret_not_reissuable")


def test_an_expired_download_cannot_be_reissued(keyless: World) -> None:
    request = released(keyless)
    Release.objects.update(download_expires_at=timezone.now() - timedelta(seconds=1))
    assert_problem(reissue(keyless, keyless.bob, request), 410, "package_expired")


def test_notifications_wait_in_the_outbox_while_the_mail_server_is_down(
    keyless: World, mail_server_down: Any
) -> None:
    request = approved_request(keyless, [enrol(keyless)])
    with transaction.atomic():
        notifications.notify_on_commit(notifications.CUSTODIANS_PENDING, request)
    queued = OutgoingMail.objects.filter(kind="custodians_pending")
    # Addresses are sealed at rest: read through the model, as the sender does.
    assert sorted(m.recipient for m in queued) == [
        f"{name}@escrow.example" for name in ("frank", "grace", "heidi", "ivan", "judy")]
    assert set(queued.values_list("state", "attempts")) == {("pending", 1)}
    assert mail.outbox == []

    mail_server_down.EMAIL_BACKEND = WORKING
    assert mail_send_due(now=timezone.now() + timedelta(minutes=5)) == 5
    assert sorted(m.to[0] for m in mail.outbox) == sorted(m.recipient for m in queued)
    assert set(queued.values_list("state", flat=True)) == {"sent"}
    assert mail_send_due(now=timezone.now() + timedelta(hours=5)) == 0  # sent once


def test_a_notification_that_never_goes_is_dead_lettered_and_logged(
    keyless: World, mail_server_down: Any
) -> None:
    request = approved_request(keyless, [enrol(keyless)])
    with transaction.atomic():
        notifications.notify_on_commit(notifications.CUSTODIANS_PENDING, request)
    moment = timezone.now()
    for hours in (2, 4):
        mail_send_due(now=moment + timedelta(hours=hours))
    assert set(OutgoingMail.objects.values_list("state", flat=True)) == {"dead"}
    events = AuditEvent.objects.filter(event_type="disclosure.mail_dead_lettered")
    assert events.count() == 5
    assert {details(e)["kind"] for e in events} == {"custodians_pending"}


def test_a_message_claimed_by_one_sender_is_not_sent_by_another(
    keyless: World, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task and the beat scan may both pick a message: the lease lets only one send."""
    from legal_requests.services.mail import mail_deliver

    settings.EMAIL_BACKEND = WORKING
    request = approved_request(keyless, [enrol(keyless)])
    # Queued, but the broker has not handed the sending task to anyone yet.
    monkeypatch.setattr(notifications, "task_enqueue_on_commit", lambda *args: None)
    with transaction.atomic():
        notifications.notify_on_commit(notifications.CUSTODIANS_PENDING, request)
    first = OutgoingMail.objects.order_by("recipient").first()
    assert first is not None
    OutgoingMail.objects.filter(pk=first.pk).update(  # another sender holds the lease
        attempts=1, next_attempt_at=timezone.now() + timedelta(minutes=2))
    assert mail_deliver(mail_id=first.pk) is None
    assert mail.outbox == []
    attempt = mail_deliver(mail_id=first.pk, now=timezone.now() + timedelta(minutes=3))
    assert attempt is not None  # a lost sender's lease lapses
    assert attempt.state == "sent"
    assert [m.to for m in mail.outbox] == [[first.recipient]]
