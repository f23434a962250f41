"""Two looping sequencers: one leads, the other waits, and takes over when the leader dies.

Real processes on PostgreSQL: the leader holds a session-level advisory lock, which
PostgreSQL releases when the leader's session ends, even on SIGKILL.
"""

from __future__ import annotations

import signal
import sys

import pytest
from django.db import connection, transaction

from escrow.log.events import Actor, event_record
from escrow.log.leadership import SEQUENCER_LEADER_KEY, SequencerLeadership
from escrow.log.models import LogEntry
from tests.conftest import on_postgresql
from tests.processes import Started, database_url, wait_until

# Serialized rollback, as the log's other transactional tests: the migrated rows are
# restored after the flush, for the tests that come next.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def postgresql() -> None:
    if not on_postgresql():
        pytest.skip("leadership is a PostgreSQL advisory lock")


@pytest.mark.usefixtures("postgresql")
def test_one_claim_leads_until_it_lets_go() -> None:
    first, second = SequencerLeadership(), SequencerLeadership()
    try:
        assert first.lead()
        assert not second.lead()
        assert first.lead()  # still leading at the next poll
        first.release()
        assert second.lead()
        assert not first.lead()
    finally:
        first.release()
        second.release()


@pytest.mark.usefixtures("postgresql")
def test_a_leader_whose_session_ends_stands_down_for_a_spare() -> None:
    leader, spare = SequencerLeadership(), SequencerLeadership()
    try:
        assert leader.lead()
        with connection.cursor() as cursor:  # as a database restart or failover would
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND "
                "((classid::bigint << 32) | objid::bigint) = %s",  # a bigint key's halves
                [SEQUENCER_LEADER_KEY],
            )
            assert cursor.fetchone() == (True,)
        # It notices (at once, or as soon as the server has ended the session) and does
        # not sequence on a lost lock.
        wait_until(lambda: not leader.lead(), timeout=10, what="the leader to stand down")
        # The server frees the lock as the ended session exits, for whoever comes first.
        wait_until(spare.lead, timeout=10, what="the spare to lead")
        assert not leader.lead()
    finally:
        leader.release()
        spare.release()


def sequencer_started() -> Started:
    return Started(
        [sys.executable, "manage.py", "log_sequencer", "--loop", "--interval", "0.2"],
        env={"DATABASE_URL": database_url(connection.settings_dict), "REDIS_URL": ""},
    )


def record_and_wait_sequenced(count: int, tag: str) -> list[int]:
    with transaction.atomic():  # one commit, so one sequencing pass takes them all
        ids = [
            event_record(event_type="test.leader", actor=Actor.system(),
                         details={"n": f"{tag}{n}"}).pk
            for n in range(count)
        ]
    wait_until(lambda: LogEntry.objects.filter(event_id__in=ids).count() == count,
               timeout=20, what=f"{count} events sequenced")
    return ids


@pytest.mark.slow
@pytest.mark.usefixtures("postgresql")
def test_one_sequencer_leads_and_the_other_takes_over_when_it_is_killed() -> None:
    first = sequencer_started()
    second: Started | None = None
    try:
        first.wait_for("log sequencer: leading", timeout=30)
        second = sequencer_started()
        second.wait_for("log sequencer: waiting", timeout=30)

        record_and_wait_sequenced(3, "a")
        first.wait_for("log sequenced 3 entries; tree size 3", timeout=10)
        assert "log sequenced" not in second.text
        assert "leading" not in second.text

        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
        second.wait_for("log sequencer: leading", timeout=20)
        record_and_wait_sequenced(2, "b")
        second.wait_for("log sequenced 2 entries; tree size 5", timeout=10)

        assert second.stop(signal.SIGTERM) == 0
        indexes = list(LogEntry.objects.order_by("index").values_list("index", flat=True))
        assert indexes == [0, 1, 2, 3, 4]
    finally:
        for started in (first, second):
            if started is not None:
                started.kill()
