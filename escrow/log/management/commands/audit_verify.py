"""Recompute every leaf, tile and checkpoint of the audit log and report the first difference."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from escrow.crypto.note import NoteKeyError, verifier_parse
from escrow.log.export import (
    DatabaseSource,
    ExportInvalid,
    ExportSource,
    database_snapshot,
    snapshot_begin,
)
from escrow.log.keys import log_identity
from escrow.log.verify import LogSource, VerifyReport, log_verify


class Command(BaseCommand):
    help = (
        "Verify the audit log from the database (default) or from an export file. "
        "Exits 1 and names the first log index where anything differs."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--export", type=Path, help="verify this export file instead")
        parser.add_argument(
            "--verifier-key",
            help="the log's verifier key (name+id+base64) to trust; default: this "
            "installation's own key",
        )
        parser.add_argument("--origin", help="the log's origin; default: the configured one")

    def handle(self, *args: Any, **options: Any) -> None:
        identity = None
        if options["verifier_key"]:
            try:
                verifier = verifier_parse(options["verifier_key"])
            except NoteKeyError as exc:
                raise CommandError(f"--verifier-key: {exc}") from None
        else:
            identity = log_identity()
            verifier = identity.verifier
        origin = options["origin"] or (identity.origin if identity else verifier.name)
        started = time.perf_counter()
        if options["export"]:
            try:
                source: LogSource = ExportSource(options["export"])
            except ExportInvalid as exc:
                raise CommandError(str(exc)) from None
            report = log_verify(source=source, verifier=verifier, origin=origin)
        else:
            with database_snapshot():
                snapshot_begin()
                report = log_verify(source=DatabaseSource(), verifier=verifier, origin=origin)
        self._report(report, time.perf_counter() - started)

    def _report(self, report: VerifyReport, seconds: float) -> None:
        summary = (
            f"{report.entries} entries, {report.tiles} tiles, {report.checkpoints} checkpoints "
            f"checked in {seconds:.2f} s"
        )
        first = report.first
        if first is None:
            self.stdout.write(self.style.SUCCESS(
                f"audit log OK: tree size {report.latest_size}; {summary}"
            ))
            return
        for problem in sorted(report.problems, key=lambda p: p.index)[:20]:
            self.stderr.write(f"  index {problem.index}: {problem.what}")
        raise CommandError(
            f"audit log FAILED at index {first.index}: {first.what} ({summary})", returncode=1
        )
