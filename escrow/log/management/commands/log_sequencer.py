"""Run the log sequencer: once, or in a loop beside a server that has no Celery beat."""

from __future__ import annotations

import signal
import time
from typing import Any

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from escrow.log.services import log_sequence


class Command(BaseCommand):
    help = (
        "Sequence committed audit events and sign checkpoints. With --loop it keeps "
        "going every --interval seconds (the demo runs it beside runserver)."
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
        while True:
            close_old_connections()
            result = log_sequence()
            if result.appended or not options["loop"]:
                self.stdout.write(
                    f"log: +{result.appended} entries, tree size {result.tree_size}"
                    + (" (another sequencer is running)" if result.busy else "")
                )
            if not options["loop"] or stopping:
                return
            deadline = time.monotonic() + options["interval"]
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.1)
