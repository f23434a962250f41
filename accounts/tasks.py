"""Thin Celery tasks for accounts: they call services and are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from accounts.sign_in_limits import sign_in_failures_report_closed


@shared_task(name="accounts.sign_in_failures_report")
def sign_in_failures_report() -> int:
    """Write the one summary event of each sign-in failure window that has closed."""
    return sign_in_failures_report_closed()
