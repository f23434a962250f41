"""Thin Celery tasks: deadlines live in the database and these scan for them.

Each is safe to run twice (or concurrently): the services re-check every condition on a
locked row and do nothing when another run got there first.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="legal_requests.expire_due_requests")
def expire_due_requests() -> int:
    from legal_requests.services.review import requests_expire_due

    return requests_expire_due()


@shared_task(name="legal_requests.escalate_overdue_reviews")
def escalate_overdue_reviews() -> int:
    from legal_requests.services.review import emergency_reviews_escalate

    return emergency_reviews_escalate()


@shared_task(name="legal_requests.notification_send", autoretry_for=(OSError,),
             retry_backoff=True, max_retries=5)
def notification_send(kind: str, request_id: str) -> int:
    from legal_requests.services.notifications import notification_send as send

    return send(kind=kind, request_id=request_id)
