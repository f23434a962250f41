"""Celery tasks for the log: thin wrappers, safe to run twice or concurrently."""

from __future__ import annotations

from celery import shared_task

from escrow.log.services import LOG_SEQUENCE_TASK, log_sequence


@shared_task(name=LOG_SEQUENCE_TASK, ignore_result=True)
def log_sequence_task() -> int:
    """Beat runs this every ESCROW_LOG_SEQUENCE_INTERVAL seconds; nudges run it at once."""
    return log_sequence().appended
