"""The mail outbox: every outgoing mail is a row first, and is sent, retried or given up.

A service calls `mail_queue` inside its own transaction, so the message exists exactly
when the news does; after the commit the task `legal_requests.mail_send` tries it, and
the beat task `legal_requests.mail_send_due` picks up whatever is due again (a failed
attempt, a worker lost mid-send), so nothing waits on a long broker countdown. Each
attempt is claimed with a lease (a compare-and-swap on `next_attempt_at`), so the task
and the scan never send one message at the same time. After MAIL_MAX_ATTEMPTS the
message is dead-lettered: the audit event `disclosure.mail_dead_lettered` says so and
staff see it (release status, console).

A download secret travels sealed (AES-256-GCM under a service key, bound to the row)
and is dropped as soon as the message is sent, dead-lettered or cancelled. Logs and the
row name an error by its class only: an SMTP error text can quote an address.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from escrow.crypto.sealing import BlobUnsealError, blob_seal, blob_unseal
from escrow.jobs import task_enqueue_on_commit
from escrow.keys import service_key
from escrow.log.events import Actor, event_record
from legal_requests.models import DisclosureRequest, OutgoingMail

logger = logging.getLogger("legal_requests.mail")

# The Celery task (legal_requests/tasks.py) that sends one queued message.
MAIL_SEND_TASK = "legal_requests.mail_send"
MAIL_DEAD_EVENT = "disclosure.mail_dead_lettered"
# Where the unsealed secret goes in a download-secret message's body.
SECRET_MARKER = "{download_secret}"  # noqa: S105 - a placeholder
_SECRET_PURPOSE = "mail-outbox-secret"  # noqa: S105 - a key label

_SETTING_DEFAULTS: dict[str, Any] = {
    # 8 attempts, 30 s apart and doubling to at most an hour: given up after about 1 h.
    "MAIL_MAX_ATTEMPTS": 8,
    "MAIL_RETRY_BASE_SECONDS": 30,
    "MAIL_RETRY_MAX_SECONDS": 3600,
    # An attempt's claim: a worker lost mid-send frees the message after this long.
    "MAIL_SEND_LEASE_SECONDS": 120,
    # The task retries itself (Celery countdown) only for waits up to this long; longer
    # waits are left to the beat scan.
    "MAIL_TASK_RETRY_MAX_SECONDS": 60,
}


def mail_setting(name: str) -> Any:
    return getattr(settings, name, _SETTING_DEFAULTS[name])


def _secret_aad(mail_id: UUID) -> bytes:
    return f"outgoing-mail:{mail_id}".encode()


def mail_queue(
    *, disclosure: DisclosureRequest, kind: str, recipient: str, subject: str, body: str,
    secret: str | None = None,
) -> OutgoingMail:
    """Persist one message (call inside the transaction that makes the news); the
    caller queues the sending task after commit (`mail_send_on_commit`)."""
    if secret is not None and SECRET_MARKER not in body:
        raise ValueError("a message carrying a secret needs the marker in its body")
    mail = OutgoingMail(
        request=disclosure, kind=kind, recipient=recipient, subject=subject, body=body,
        next_attempt_at=timezone.now(),
    )
    if secret is not None:
        mail.secret_sealed = blob_seal(key=service_key(_SECRET_PURPOSE), plaintext=secret.encode(),
                                       associated_data=_secret_aad(mail.pk))
    mail.save(force_insert=True)
    return mail


def mail_send_on_commit(mail: OutgoingMail) -> None:
    task_enqueue_on_commit(MAIL_SEND_TASK, str(mail.pk))


def _backoff(attempts: int) -> timedelta:
    base = mail_setting("MAIL_RETRY_BASE_SECONDS")
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0),
                                 mail_setting("MAIL_RETRY_MAX_SECONDS")))


def _claim(mail_id: UUID, now: datetime) -> OutgoingMail | None:
    """Take the message for one attempt, if it is pending and due (counted at once, so a
    worker killed mid-send still uses up an attempt)."""
    with transaction.atomic():
        mail = (
            OutgoingMail.objects.select_for_update(skip_locked=True)
            .filter(pk=mail_id, state=OutgoingMail.State.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if mail is None:
            return None
        mail.attempts += 1
        mail.next_attempt_at = now + timedelta(seconds=mail_setting("MAIL_SEND_LEASE_SECONDS"))
        mail.save(update_fields=["attempts", "next_attempt_at"])
    return mail


def _message_body(mail: OutgoingMail) -> str:
    if mail.secret_sealed is None:
        return mail.body
    secret = blob_unseal(key=service_key(_SECRET_PURPOSE), sealed=bytes(mail.secret_sealed),
                         associated_data=_secret_aad(mail.pk))
    return mail.body.replace(SECRET_MARKER, secret.decode())


def _finish(mail: OutgoingMail, *, state: str, error: str = "") -> bool:
    """Compare-and-swap from pending; False if someone else finished it meanwhile."""
    return OutgoingMail.objects.filter(pk=mail.pk, state=OutgoingMail.State.PENDING).update(
        state=state, secret_sealed=None, finished_at=timezone.now(), last_error=error,
    ) == 1


def _dead_letter(mail: OutgoingMail, *, error: str) -> None:
    with transaction.atomic():
        if not _finish(mail, state=OutgoingMail.State.DEAD, error=error):
            return
        disclosure = mail.request
        event_record(
            event_type=MAIL_DEAD_EVENT,
            actor=Actor.system("mail"),
            object_ref=disclosure.object_ref,
            details={"reference": disclosure.reference, "mail_id": str(mail.pk),
                     "kind": mail.kind, "attempts": mail.attempts, "last_error": error},
        )
    logger.error("mail %s (%s) dead-lettered after %d attempts: %s",
                 mail.pk, mail.kind, mail.attempts, error)


@dataclass(frozen=True)
class MailAttempt:
    state: str  # the message's state afterwards
    retry_in: float | None  # seconds until the next attempt, while it stays pending


def mail_deliver(*, mail_id: UUID, now: datetime | None = None) -> MailAttempt | None:
    """Try to send one message now; None if it is not pending and due (or is being tried)."""
    moment = now or timezone.now()
    mail = _claim(mail_id, moment)
    if mail is None:
        return None
    try:
        body = _message_body(mail)
    except BlobUnsealError:
        # The service secret changed: no later attempt can open it either.
        _dead_letter(mail, error="BlobUnsealError")
        return MailAttempt(state=OutgoingMail.State.DEAD, retry_in=None)
    try:
        EmailMessage(subject=mail.subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL,
                     to=[mail.recipient]).send(fail_silently=False)
    except Exception as exc:  # any backend failure is retried, then dead-lettered
        del body
        error = type(exc).__name__
        if mail.attempts >= mail_setting("MAIL_MAX_ATTEMPTS"):
            _dead_letter(mail, error=error)
            return MailAttempt(state=OutgoingMail.State.DEAD, retry_in=None)
        delay = _backoff(mail.attempts)
        OutgoingMail.objects.filter(pk=mail.pk, state=OutgoingMail.State.PENDING).update(
            next_attempt_at=moment + delay, last_error=error,
        )
        logger.warning("mail %s (%s) attempt %d failed: %s; next in %d s",
                       mail.pk, mail.kind, mail.attempts, error, delay.total_seconds())
        return MailAttempt(state=OutgoingMail.State.PENDING, retry_in=delay.total_seconds())
    del body
    _finish(mail, state=OutgoingMail.State.SENT)
    return MailAttempt(state=OutgoingMail.State.SENT, retry_in=None)


def mail_send_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Try every pending message that is due (beat); returns how many went out."""
    moment = now or timezone.now()
    due = list(
        OutgoingMail.objects.filter(state=OutgoingMail.State.PENDING, next_attempt_at__lte=moment)
        .order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for mail_id in due:
        attempt = mail_deliver(mail_id=mail_id, now=moment)
        sent += attempt is not None and attempt.state == OutgoingMail.State.SENT
    return sent


def mail_send_for_request(*, disclosure_id: UUID, kind: str) -> int:
    """Send the due messages of one kind about one request; returns how many went out."""
    due = list(
        OutgoingMail.objects.filter(
            request_id=disclosure_id, kind=kind, state=OutgoingMail.State.PENDING,
            next_attempt_at__lte=timezone.now(),
        ).order_by("created_at", "pk").values_list("pk", flat=True)
    )
    sent = 0
    for mail_id in due:
        attempt = mail_deliver(mail_id=mail_id)
        sent += attempt is not None and attempt.state == OutgoingMail.State.SENT
    return sent


def mails_cancel_pending(*, disclosure: DisclosureRequest, kind: str) -> int:
    """Withdraw pending messages (inside the caller's transaction), dropping any secret."""
    return OutgoingMail.objects.filter(
        request=disclosure, kind=kind, state=OutgoingMail.State.PENDING
    ).update(state=OutgoingMail.State.CANCELLED, secret_sealed=None, finished_at=timezone.now())
