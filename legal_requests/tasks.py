"""Thin Celery tasks: they load ids and call services; deadlines live in the database.

Each is safe to run twice (or concurrently): the services re-check every condition on a
locked row and do nothing when another run got there first; the release takes a lock
and checks for an existing package; webhook deliveries are claimed with a lease and
finished compare-and-swap. Services queue these by name (escrow.jobs), never by import.
"""

from __future__ import annotations

import logging
from uuid import UUID

from celery import shared_task

from legal_requests.services.notifications import NOTIFICATION_SEND_TASK, notification_send
from legal_requests.services.release.commit import ReleaseAborted, release_perform
from legal_requests.services.release.delivery import release_downloads_purge_expired
from legal_requests.services.release.partials import RELEASE_PERFORM_TASK
from legal_requests.services.release.recovery import (
    custodian_partials_scrub_closed,
    disclosures_close_completed,
    releases_stalled,
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


@shared_task(name=NOTIFICATION_SEND_TASK, autoretry_for=(OSError,), retry_backoff=True,
             max_retries=5)
def notification_send_task(kind: str, disclosure_id: str) -> int:
    return notification_send(kind=kind, disclosure_id=UUID(disclosure_id))


@shared_task(name=RELEASE_PERFORM_TASK)
def release_perform_task(disclosure_id: str) -> None:
    try:
        release_perform(disclosure_id=UUID(disclosure_id))
    except ReleaseAborted as exc:
        # Already logged as an audit event; the stalled-release scan retries later.
        logger.warning("release %s not completed: %s", disclosure_id, exc)


@shared_task(name="legal_requests.release_resume_stalled")
def release_resume_stalled_task() -> int:
    stalled = releases_stalled()
    for disclosure_id in stalled:
        release_perform_task.delay(disclosure_id)
    return len(stalled)


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
