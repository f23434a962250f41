"""Thin Celery tasks: they load ids and call services; deadlines live in the database.

Each is safe to run twice (or concurrently): the services re-check every condition on a
locked row and do nothing when another run got there first; the release takes a lock
and checks for an existing package; webhook deliveries are claimed with a lease and
finished compare-and-swap. Services queue these by name (escrow.jobs), never by import.
"""

from __future__ import annotations

import logging
from uuid import UUID

from celery import Task, shared_task

from legal_requests.services.mail import (
    MAIL_SEND_TASK,
    mail_deliver,
    mail_send_due,
    mail_setting,
)
from legal_requests.services.notifications import NOTIFICATION_SEND_TASK, notification_send
from legal_requests.services.release.commit import ReleaseAborted, release_perform
from legal_requests.services.release.delivery import release_downloads_purge_expired
from legal_requests.services.release.partials import RELEASE_PERFORM_TASK
from legal_requests.services.release.recovery import (
    custodian_partials_scrub_closed,
    disclosures_close_completed,
    release_recover,
)
from legal_requests.services.review import disclosures_expire_due, emergency_reviews_escalate
from legal_requests.services.webhooks import webhooks_send_due

logger = logging.getLogger("legal_requests.release")


@shared_task(name="legal_requests.expire_due_requests")
def expire_due_requests() -> int:
    return disclosures_expire_due()


@shared_task(name="legal_requests.escalate_overdue_reviews")
def escalate_overdue_reviews() -> int:
    return emergency_reviews_escalate()


@shared_task(name=NOTIFICATION_SEND_TASK)
def notification_send_task(kind: str, disclosure_id: str) -> int:
    # A message the mail server refuses stays in the outbox: mail_send_due retries it.
    return notification_send(kind=kind, disclosure_id=UUID(disclosure_id))


@shared_task(name=MAIL_SEND_TASK, bind=True, max_retries=None)
def mail_send_task(self: Task, mail_id: str) -> str | None:
    attempt = mail_deliver(mail_id=UUID(mail_id))
    if attempt is None:
        return None  # sent, given up, or being tried by someone else
    # A short wait is the task's own retry; a longer one is the beat scan's, so nothing
    # rests on a long countdown in the broker. (Eagerly, there is no one to wait.)
    short = mail_setting("MAIL_TASK_RETRY_MAX_SECONDS")
    if attempt.retry_in is not None and attempt.retry_in <= short and not self.request.is_eager:
        raise self.retry(countdown=attempt.retry_in)
    return attempt.state


@shared_task(name="legal_requests.mail_send_due")
def mail_send_due_task() -> int:
    return mail_send_due()


@shared_task(name=RELEASE_PERFORM_TASK)
def release_perform_task(disclosure_id: str) -> None:
    try:
        release_perform(disclosure_id=UUID(disclosure_id))
    except ReleaseAborted as exc:
        # Already logged as an audit event; the stalled-release scan retries later.
        logger.warning("release %s not completed: %s", disclosure_id, exc)


@shared_task(name="legal_requests.release_resume_stalled")
def release_resume_stalled_task() -> int:
    # Also ends orphaned commits (a worker lost mid-release) and gives up on spent ones.
    to_retry = release_recover()
    for disclosure_id in to_retry:
        release_perform_task.delay(disclosure_id)
    return len(to_retry)


@shared_task(name="legal_requests.release_downloads_purge_expired")
def release_downloads_purge_expired_task() -> int:
    # Also the partials of requests that ended another way (withdrawn, expired).
    custodian_partials_scrub_closed()
    return release_downloads_purge_expired()


@shared_task(name="legal_requests.webhooks_send_due")
def webhooks_send_due_task() -> int:
    return webhooks_send_due()


@shared_task(name="legal_requests.requests_close_completed")
def requests_close_completed_task() -> int:
    return disclosures_close_completed()
