"""Run the log sequencer: once, or in a loop beside a server that has no Celery beat."""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError, close_old_connections

from escrow.jobs import heartbeat_record
from escrow.log.leadership import SequencerLeadership
from escrow.log.services import log_sequence

logger = logging.getLogger("escrow.log")


class Command(BaseCommand):
    help = (
        "Sequence committed audit events and sign checkpoints. With --loop it keeps "
        "going every --interval seconds (the demo runs it beside runserver); of several "
        "looping sequencers, one leads and the others wait to take over."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--loop", action="store_true")
        parser.add_argument("--interval", type=float, default=1.0)

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        # Looping sequencers elect one leader (escrow/log/leadership.py); the others wait.
        leadership = SequencerLeadership() if options["loop"] else None
        role = ""
        try:
            while True:
                close_old_connections()
                leading = leadership is None or leadership.lead()
                now = "leading" if leading else "waiting (another sequencer leads)"
                if leadership is not None and role != now:
                    role = now
                    self.stdout.write(f"log sequencer: {role}")
                if leading and options["loop"]:
                    self._sequence_in_loop()
                elif leading:
                    self._sequence(report=True)
                if not options["loop"] or stopping:
                    return
                deadline = time.monotonic() + options["interval"]
                while not stopping and time.monotonic() < deadline:
                    time.sleep(0.1)
        finally:
            if leadership is not None:
                leadership.release()

    _database_down = False

    def _sequence_in_loop(self) -> None:
        """One turn. A database that restarts or cannot be reached ends the turn, not the
        process (which would leave the log unsequenced): the next turn's
        close_old_connections() drops the broken connection and a fresh one is opened."""
        try:
            self._sequence(report=False)
        except (OperationalError, InterfaceError) as exc:
            if not self._database_down:
                logger.warning("log sequencer: database unavailable (%s); waiting for it",
                               type(exc).__name__)
            self._database_down = True
            return
        if self._database_down:
            logger.warning("log sequencer: database available again")
            self._database_down = False

    def _sequence(self, *, report: bool) -> None:
        result = log_sequence()
        if not result.busy:  # readiness watches for this (config/health.py)
            heartbeat_record("sequencer")
        # Looping, the service's own log line reports each batch; printing it as well
        # showed every batch twice.
        if report:
            self.stdout.write(
                f"log: +{result.appended} entries, tree size {result.tree_size}"
                + (" (another sequencer is running)" if result.busy else "")
            )
