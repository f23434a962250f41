"""Which of several looping sequencer processes leads.

Operators may start more than one `log_sequencer --loop` (a spare on another host, or
two by mistake); exactly one of them works at a time. The leader holds a session-level
PostgreSQL advisory lock on a connection of its own, so the lock lasts as long as the
process and no longer: when the process dies, however abruptly, PostgreSQL ends its
session and a waiting sequencer takes over at its next poll.

Leadership only keeps the spares idle. Correctness does not rest on it: every batch
still runs under the per-transaction lock of `escrow.log.services`, so even a leader
that has just lost its lock cannot sequence an event twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import Any

import psycopg
from django.db import connection

logger = logging.getLogger("escrow.log")

# Distinct from the per-batch key, so that beat's sequencing task and release waits
# (which take only that one) never contend for leadership.
SEQUENCER_LEADER_KEY = int.from_bytes(
    hashlib.sha256(b"identity-escrow audit log sequencer leader").digest()[:8],
    "big",
    signed=True,
)


class SequencerLeadership:
    """A claim on leadership, polled with `lead()` and given up with `release()`."""

    def __init__(self) -> None:
        self._session: Any = None
        self._leading = False

    def lead(self) -> bool:
        """Whether this process leads now; takes the lead if it is free."""
        if connection.vendor != "postgresql":
            # SQLite (the demo): one process, and the database serialises writers.
            return True
        # A session of its own, outside Django's connection handling: Django may close
        # its connection between polls (CONN_MAX_AGE), which would drop the lock.
        try:
            if self._session is None:
                self._session = connection.get_new_connection(connection.get_connection_params())
                # Autocommit: an idle session must not sit in an open transaction, which
                # idle_in_transaction_session_timeout would end (and the lock with it).
                self._session.autocommit = True
            with self._session.cursor() as cursor:
                if self._leading:
                    cursor.execute("SELECT 1")
                else:
                    cursor.execute("SELECT pg_try_advisory_lock(%s)", [SEQUENCER_LEADER_KEY])
                    row = cursor.fetchone()
                    self._leading = bool(row and row[0])
        except psycopg.Error:
            # A lost session has lost its lock too: stand down, reconnect at the next poll.
            if self._leading:
                logger.warning("log sequencer lost its leadership session")
            self._drop_session()
        return self._leading

    def release(self) -> None:
        self._drop_session()

    def _drop_session(self) -> None:
        session, leading = self._session, self._leading
        self._session, self._leading = None, False
        if session is None:
            return
        with contextlib.suppress(psycopg.Error):
            if leading:
                # Closing alone frees the lock only once the server has ended the
                # session; unlocking first hands over at once.
                session.execute("SELECT pg_advisory_unlock(%s)", [SEQUENCER_LEADER_KEY])
            session.close()
