"""Run Celery beat's schedule in this process, for a machine with no beat and no worker."""

from __future__ import annotations

import logging
import signal
import time
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

logger = logging.getLogger("escrow.scheduled_tasks")


def _interval_seconds(schedule: Any) -> float:
    if isinstance(schedule, timedelta):
        return schedule.total_seconds()
    if isinstance(schedule, int | float):
        return float(schedule)
    raise CommandError("only interval schedules (seconds or timedelta) can run in-process")


class Command(BaseCommand):
    help = (
        "Run each task of CELERY_BEAT_SCHEDULE in this process when it is due: once, or "
        "with --loop until stopped (the demo runs it beside runserver in place of Celery "
        "beat and a worker). Every scheduled task is idempotent, so running one early or "
        "twice is safe."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--loop", action="store_true")
        parser.add_argument("--max-interval", type=float, default=None,
                            help="run every task at least this often, in seconds (the demo "
                                 "uses a few, so a webhook arrives in seconds, not minutes)")
        parser.add_argument("--skip", action="append", default=[],
                            help="a schedule entry to leave out, e.g. log-sequence when a "
                                 "log_sequencer runs beside (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        schedule: dict[str, dict[str, Any]] = settings.CELERY_BEAT_SCHEDULE
        unknown = set(options["skip"]) - set(schedule)
        if unknown:
            raise CommandError(f"no such schedule entries: {sorted(unknown)}")
        entries = {name: entry for name, entry in schedule.items()
                   if name not in options["skip"]}
        cap = options["max_interval"] or float("inf")
        intervals = {name: min(_interval_seconds(entry["schedule"]), cap)
                     for name, entry in entries.items()}
        stopping = not entries

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        if options["loop"]:
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            # Celery logs each task it runs; every few seconds that buries what matters.
            logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
        due = dict.fromkeys(entries, 0.0)
        while not stopping:
            for name in sorted(due, key=due.__getitem__):
                if stopping or due[name] > time.monotonic():
                    continue
                self._run(name, entries[name])
                due[name] = time.monotonic() + intervals[name]
            if not options["loop"]:
                return
            # A long-lived loop drops a connection the database closed, as a request would.
            close_old_connections()
            time.sleep(min(0.5, max(0.05, min(due.values()) - time.monotonic())))

    def _run(self, name: str, entry: dict[str, Any]) -> None:
        try:
            task = current_app.tasks[entry["task"]]
        except KeyError:
            raise CommandError(f"{name}: no task named {entry['task']}") from None
        try:
            result = task.apply(args=entry.get("args", ()), kwargs=entry.get("kwargs", {}),
                                throw=True).get()
        except Exception as exc:
            # One failing task must not stop the others. The type only: a message may
            # quote a row's values.
            logger.error("scheduled task %s failed: %s", name, type(exc).__name__)
            return
        # Scans return how many rows they handled: quiet when there was nothing to do.
        if isinstance(result, int) and result:
            self.stdout.write(f"{name}: {result}")
