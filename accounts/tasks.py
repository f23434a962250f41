"""Thin Celery tasks for accounts: they call services and are safe to run twice."""

from __future__ import annotations

from uuid import UUID

from celery import shared_task

from accounts.services_staff import staff_mail_deliver, staff_mails_send_due
from accounts.sign_in_limits import sign_in_failures_report_closed


@shared_task(name="accounts.sign_in_failures_report")
def sign_in_failures_report() -> int:
    """Write the one summary event of each sign-in failure window that has closed."""
    return sign_in_failures_report_closed()


@shared_task(name="accounts.staff_mail_send")
def staff_mail_send(mail_id: str) -> str | None:
    """Try one message of the staff outbox (queued after the change committed)."""
    return staff_mail_deliver(mail_id=UUID(mail_id))


@shared_task(name="accounts.staff_mails_send_due")
def staff_mails_send_due_task() -> int:
    """Retry whatever in the staff outbox is due (a failed attempt, a lost worker)."""
    return staff_mails_send_due()
