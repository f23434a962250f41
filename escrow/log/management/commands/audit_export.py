"""Write the audit log as an export file that auditors verify offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from escrow.log.export import ExportInvalid, log_export_write


class Command(BaseCommand):
    help = "Export the log (tlog-tiles layout in a tar file) up to its latest signed checkpoint."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--tree-size", type=int, help="an earlier signed tree size")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            log_export_write(path=options["out"], tree_size=options["tree_size"])
        except ExportInvalid as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"wrote {options['out']}"))
