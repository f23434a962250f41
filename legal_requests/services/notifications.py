"""Telling people about pending work, by email through Django's email backend.

Messages name the request's reference and what is awaited, never a pseudonym, an
officer or a case: mailboxes are not part of the escrow's protected store. Services
call `notify_on_commit` inside their transaction: it composes the notice and puts one
message per recipient in the mail outbox (services/mail.py) in that transaction, and
the Celery task sends them after commit; a message the mail server refuses is retried
by the outbox and dead-lettered (logged) if it never goes, never silently lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import User

from accounts.roles import Role
from escrow.jobs import task_enqueue_on_commit
from escrow.vault.models import CustodianKey
from escrow.vault.selectors import escrow_key_active_row
from legal_requests.models import DisclosureRequest
from legal_requests.selectors import (
    disclosure_intake_staff_ids,
    disclosure_involved_staff_ids,
    disclosure_release_epochs,
    staff_with_role,
)
from legal_requests.services.mail import mail_queue, mail_send_for_request

# The Celery task (legal_requests/tasks.py) that sends one notice.
NOTIFICATION_SEND_TASK = "legal_requests.notification_send"

REQUEST_RECEIVED = "request_received"
APPROVAL_PENDING = "approval_pending"
CUSTODIANS_PENDING = "custodians_pending"
INFORMATION_REQUESTED = "information_requested"
RETROSPECTIVE_REVIEW_DUE = "retrospective_review_due"
REVIEW_ESCALATED = "review_escalated"
KINDS = (
    REQUEST_RECEIVED,
    APPROVAL_PENDING,
    CUSTODIANS_PENDING,
    INFORMATION_REQUESTED,
    RETROSPECTIVE_REVIEW_DUE,
    REVIEW_ESCALATED,
)


@dataclass(frozen=True)
class Notice:
    subject: str
    body: str
    recipients: list[str]


def notify_on_commit(kind: str, disclosure: DisclosureRequest) -> None:
    """Queue a notice about `disclosure`, sent only if the surrounding transaction commits."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind}")
    notice = notice_compose(kind, disclosure)
    # One message per recipient, so recipients do not learn each other's addresses.
    for recipient in notice.recipients:
        mail_queue(disclosure=disclosure, kind=kind, recipient=recipient,
                   subject=notice.subject, body=notice.body)
    if notice.recipients:
        task_enqueue_on_commit(NOTIFICATION_SEND_TASK, kind, str(disclosure.pk))


def _emails(users: Iterable[User], exclude: set[int] | None = None) -> list[str]:
    exclude = exclude or set()
    return sorted({u.email for u in users if u.email and u.pk not in exclude})


def _custodians(disclosure: DisclosureRequest) -> list[User]:
    # The holders of shares of the epochs the request needs (its targets' records keep
    # the epoch they were sealed under), else of the active key's; otherwise everyone
    # with the custodian role.
    epochs = disclosure_release_epochs(disclosure)
    if not epochs:
        active = escrow_key_active_row()
        epochs = [active.epoch] if active is not None else []
    holders = User.objects.filter(
        pk__in=CustodianKey.objects.filter(escrow_key__epoch__in=epochs).values("user_id"),
        is_active=True,
    )
    return list(holders) or list(staff_with_role(Role.CUSTODIAN))


def _administrators() -> list[str]:
    # Escalations also reach the operator's ADMINS, who may hold no staff account.
    admins = _emails(staff_with_role(Role.ADMINISTRATOR))
    admins += [email for _, email in getattr(settings, "ADMINS", [])]
    return sorted(set(admins))


def notice_compose(kind: str, disclosure: DisclosureRequest) -> Notice:
    ref = disclosure.reference
    involved = disclosure_involved_staff_ids(disclosure)
    review_due = disclosure.review_due_at.isoformat() if disclosure.review_due_at else "-"
    if kind == REQUEST_RECEIVED:
        return Notice(
            subject=f"[escrow] New disclosure request {ref}",
            body=f"Disclosure request {ref} was received and awaits review.",
            recipients=_emails(staff_with_role(Role.INTAKE_OFFICER),
                               exclude=disclosure_intake_staff_ids(disclosure)),
        )
    if kind == APPROVAL_PENDING:
        return Notice(
            subject=f"[escrow] Disclosure request {ref} awaits approval",
            body=(
                f"Disclosure request {ref} is in review and awaits "
                f"{disclosure.legal_basis.approvals_required} approval(s). Its legal document "
                f"expires at {disclosure.expires_at.isoformat()}."
            ),
            recipients=_emails(staff_with_role(Role.APPROVER), exclude=involved),
        )
    if kind == CUSTODIANS_PENDING:
        return Notice(
            subject=f"[escrow] Disclosure request {ref} approved: custodians needed",
            body=(
                f"Disclosure request {ref} is approved. Verify its approval event in a signed "
                f"checkpoint and respond with your custodian tool before "
                f"{disclosure.expires_at.isoformat()}."
            ),
            recipients=_emails(_custodians(disclosure), exclude=involved),
        )
    if kind == INFORMATION_REQUESTED:
        agency = disclosure.agency
        return Notice(
            subject=f"[escrow] Information requested on {ref}",
            body=f"The escrow needs more information on disclosure request {ref}. "
                 "Read the question and answer it through the API.",
            recipients=sorted({agency.callback_email, disclosure.officer_email} - {""}),
        )
    if kind == RETROSPECTIVE_REVIEW_DUE:
        return Notice(
            subject=f"[escrow] Retrospective review due for emergency request {ref}",
            body=(
                f"Emergency disclosure request {ref} was approved on one approval. Two other "
                f"approvers must review it by {review_due}."
            ),
            recipients=_emails(staff_with_role(Role.APPROVER), exclude=involved),
        )
    if kind == REVIEW_ESCALATED:
        return Notice(
            subject=f"[escrow] OVERDUE retrospective review of emergency request {ref}",
            body=(
                f"The retrospective review of emergency disclosure request {ref} was due by "
                f"{review_due} and is incomplete. It has been escalated and will be counted "
                "in the transparency report."
            ),
            recipients=_administrators(),
        )
    raise ValueError(f"unknown notification kind {kind}")


def notification_send(*, kind: str, disclosure_id: UUID) -> int:
    """Send the queued notice of `kind` about a request; returns how many messages went out.

    Safe to run twice: a sent message is not sent again; one that fails stays in the
    outbox for its next attempt (the beat scan `legal_requests.mail_send_due`).
    """
    return mail_send_for_request(disclosure_id=disclosure_id, kind=kind)
