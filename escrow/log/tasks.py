"""Celery tasks for the log: thin wrappers, safe to run twice or concurrently."""

from __future__ import annotations

from celery import shared_task

from escrow.jobs import heartbeat_record
from escrow.log.services import LOG_SEQUENCE_TASK, log_sequence


@shared_task(name=LOG_SEQUENCE_TASK, ignore_result=True)
def log_sequence_task() -> int:
    """Beat runs this every ESCROW_LOG_SEQUENCE_INTERVAL seconds; nudges run it at once."""
    result = log_sequence()
    if not result.busy:  # a busy run means another sequencer did the work (and reports)
        heartbeat_record("sequencer")
    return result.appended
