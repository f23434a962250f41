"""The beat task on a real worker and broker (Redis): a nudge sequences the log."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.db import connection

from escrow.log.events import Actor, event_record
from escrow.log.models import LogEntry
from escrow.log.tasks import log_sequence_task

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.redis,
    pytest.mark.skipif(not settings.REDIS_URL or settings.CELERY_TASK_ALWAYS_EAGER,
                       reason="needs Redis as the Celery broker"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]


def test_a_worker_runs_the_sequencer_task_from_the_broker() -> None:
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    events = [event_record(event_type="test.celery", actor=Actor.system()) for _ in range(3)]
    # A queue of its own, so messages other suites left on the broker stay untouched.
    queue = "log-sequencer-test"
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10,
                      queues=[queue]):
        log_sequence_task.apply_async(queue=queue)
        deadline = time.monotonic() + 20
        while LogEntry.objects.count() < len(events) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert sorted(LogEntry.objects.values_list("event_id", flat=True)) == [e.pk for e in events]
