from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from escrow.keys import SecretVersionUnknown
from escrow.log.events import Actor
from escrow.vault.models import BlindIndexRotation
from escrow.vault.services.secret_versions import (
    RotationRejected,
    SecretVersionRetired,
    blind_index_rotation_batch,
    blind_index_rotation_finish,
    blind_index_rotation_start,
    blind_index_versions,
)


class Command(BaseCommand):
    help = (
        "Re-key every blind index under a new secret version (configured in "
        "ESCROW_SECRET_VERSIONS), in batches, then retire the old version. Progress is kept "
        "in the database: run the same command again to resume after an interruption."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--to", type=int, dest="to_version")
        parser.add_argument("--batch", type=int, default=1000)
        parser.add_argument("--max-batches", type=int, default=None,
                            help="stop after this many batches (resume later)")
        parser.add_argument("--status", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["status"]:
            self._status()
            return
        if options["to_version"] is None or options["batch"] < 1:
            raise CommandError("give --to VERSION (and --batch N >= 1), or --status")
        actor = Actor.system("blind-index-rotation")
        try:
            rotation = blind_index_rotation_start(to_version=options["to_version"], actor=actor)
        except RotationRejected as exc:
            raise CommandError(str(exc)) from exc
        if rotation.rows_done:
            self.stdout.write(f"resuming at {rotation.rows_done}/{rotation.rows_total} rows")
        try:
            self._run(rotation, actor, options["batch"], options["max_batches"])
        except (SecretVersionRetired, SecretVersionUnknown) as exc:
            raise CommandError(str(exc)) from exc

    def _run(self, rotation: BlindIndexRotation, actor: Actor, batch_size: int,
             max_batches: int | None) -> None:
        batches = 0
        while max_batches is None or batches < max_batches:
            moved = blind_index_rotation_batch(rotation=rotation, batch_size=batch_size)
            if moved == 0 and blind_index_rotation_finish(rotation=rotation, actor=actor):
                self.stdout.write(
                    f"rotation to version {rotation.to_version} finished: "
                    f"{rotation.rows_done} rows; version {rotation.from_version} retired"
                )
                return
            batches += 1
            self._progress(rotation.rows_done, rotation.rows_total)
        self.stdout.write("stopped; run the same command again to resume")

    def _progress(self, done: int, total: int) -> None:
        # Enrolments already under way at the start may still add rows under the old
        # version: they add to the work, not to the total counted at the start.
        share = f" ({100 * done // total}%)" if total and done <= total else ""
        self.stdout.write(f"re-keyed {done}/{total} rows{share}")

    def _status(self) -> None:
        versions = blind_index_versions()
        self.stdout.write(f"live versions: {list(versions.live)}; new indexes under "
                          f"version {versions.write}")
        if versions.rotation is not None:
            self._progress(versions.rotation.rows_done, versions.rotation.rows_total)
