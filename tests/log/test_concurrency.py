"""Concurrency on PostgreSQL: one sequencer at a time, no index twice, none skipped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction

from escrow.log.events import Actor, event_record
from escrow.log.models import AuditEvent, LogEntry
from escrow.log.services import (
    SEQUENCER_LOCK_KEY,
    LogUnavailable,
    log_sequence,
    log_wait_for_checkpoint,
)

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]


def in_thread(target: Callable[[], Any]) -> Callable[[], Any]:
    """Run `target` on its own connection, closing it afterwards."""

    def run() -> Any:
        try:
            return target()
        finally:
            connections.close_all()

    return run


def assert_log_is_exactly(events: set[int]) -> None:
    rows = list(LogEntry.objects.order_by("index").values_list("index", "event_id"))
    assert [index for index, _ in rows] == list(range(len(rows)))
    assert len({event for _, event in rows}) == len(rows)
    assert {event for _, event in rows} == events


def test_two_sequencers_racing_writers_never_share_or_skip_an_index() -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        for n in range(150):
            with transaction.atomic():
                event_record(event_type="test.race", actor=Actor.system(), details={"n": n})

    def sequencer() -> None:
        while not stop.is_set():
            try:
                log_sequence(batch_size=7)
            except BaseException as exc:  # surfaced below
                errors.append(exc)
                return

    threads = [threading.Thread(target=in_thread(f)) for f in (writer, writer)]
    sequencers = [threading.Thread(target=in_thread(sequencer)) for _ in range(2)]
    for thread in threads + sequencers:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    for thread in sequencers:
        thread.join()
    assert not errors
    log_sequence()
    assert_log_is_exactly(set(AuditEvent.objects.values_list("id", flat=True)))


def test_an_event_committing_after_a_later_one_is_still_sequenced() -> None:
    first_inserted = threading.Event()
    release = threading.Event()
    early_id: list[int] = []

    def slow_writer() -> None:
        with transaction.atomic():
            early_id.append(event_record(event_type="test.slow", actor=Actor.system()).pk)
            first_inserted.set()
            release.wait(10)

    slow = threading.Thread(target=in_thread(slow_writer))
    slow.start()
    assert first_inserted.wait(10)
    with transaction.atomic():
        late = event_record(event_type="test.fast", actor=Actor.system())
    assert late.pk > early_id[0]
    # The slow transaction is still open: the later event must wait behind it.
    log_sequence()
    assert not LogEntry.objects.filter(event_id=early_id[0]).exists()
    release.set()
    slow.join()
    log_sequence()
    assert_log_is_exactly({early_id[0], late.pk})


def test_a_rolled_back_event_leaves_no_gap_and_blocks_nothing() -> None:
    def rolled_back() -> None:
        with transaction.atomic():
            event_record(event_type="test.rolled_back", actor=Actor.system())
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        rolled_back()
    kept = event_record(event_type="test.kept", actor=Actor.system())
    log_sequence()
    assert_log_is_exactly({kept.pk})


def test_waiting_fails_closed_while_another_sequencer_holds_the_lock() -> None:
    event = event_record(event_type="test.wait", actor=Actor.system())
    holding = threading.Event()
    done = threading.Event()

    def hold_lock() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEQUENCER_LOCK_KEY])
            holding.set()
            done.wait(10)

    holder = threading.Thread(target=in_thread(hold_lock))
    holder.start()
    assert holding.wait(10)
    started = time.monotonic()
    with pytest.raises(LogUnavailable):
        log_wait_for_checkpoint(event_id=event.pk, timeout=0.5)
    assert time.monotonic() - started < 3
    done.set()
    holder.join()
    inclusion = log_wait_for_checkpoint(event_id=event.pk, timeout=5)
    assert inclusion.log_index == 0
