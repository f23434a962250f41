"""A looping sequencer outlives a PostgreSQL restart: when the server ends its sessions
(as `pg_ctl restart -m fast` does), it waits for the database and sequences again,
rather than exiting and leaving the log unsequenced (found by bench/faults.py)."""

from __future__ import annotations

import signal
import sys

import pytest
from django.db import connection

from escrow.log.events import Actor, event_record
from escrow.log.models import LogEntry
from tests.conftest import on_postgresql
from tests.processes import Started, database_url, wait_until

pytestmark = [pytest.mark.postgres,
              pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def sequenced(event_id: int) -> bool:
    return LogEntry.objects.filter(event_id=event_id).exists()


def _other_sessions() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return {row[0] for row in cursor.fetchall()}


def test_a_looping_sequencer_survives_the_database_ending_its_sessions() -> None:
    if not on_postgresql():
        pytest.skip("ends PostgreSQL sessions")
    before = _other_sessions()
    sequencer = Started(
        [sys.executable, "manage.py", "log_sequencer", "--loop", "--interval", "0.2"],
        env={"DATABASE_URL": database_url(connection.settings_dict), "REDIS_URL": ""},
    )
    try:
        first = event_record(event_type="test.restart", actor=Actor.system()).pk
        wait_until(lambda: sequenced(first), timeout=30, what="the first event sequenced")

        # Every session of the sequencer ends, as in a fast restart of the server. Only
        # its sessions: others (a live server's, kept for the whole run) must live on.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE pid = ANY(%s)", [sorted(_other_sessions() - before)],
            )
            assert cursor.fetchone()[0] >= 1

        second = event_record(event_type="test.restart", actor=Actor.system()).pk
        wait_until(lambda: sequenced(second) or sequencer.process.poll() is not None,
                   timeout=30, what="the second event sequenced")
        assert sequencer.process.poll() is None, sequencer.text[-3000:]
        assert sequenced(second)
        assert "database unavailable (OperationalError)" in sequencer.text
        assert "Traceback" not in sequencer.text
        assert sequencer.stop(signal.SIGTERM) == 0
    finally:
        sequencer.kill()
