"""Benchmark: blind-index secret rotation, in index rows re-keyed per second.

Run from the repository root:  python bench/blind_index_rotation_bench.py [--rows N]
(uses DATABASE_URL like the service; a throwaway test database is created and dropped).

It stores N index rows (four per enrolment, random digests: the rotation never looks at
identities), then times the rotation as the operator command runs it (locked batches of
--batch rows, each one transaction, progress written back) against a baseline measured
in the same run on the same rows: reading them in the same batches with no re-keying and
no writes. The machine is shared and noisy; compare the ratio across runs.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("ESCROW_SECRET_VERSIONS", "2=benchmark-only-blind-index-secret-version-2")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

KINDS = ("name_dob", "email", "phone", "document")


def _populate(rows: int) -> None:
    from accounts.models import Platform
    from escrow.vault.models import BlindIndex, Enrolment

    platform = Platform.objects.create(name="Benchmark")
    now = timezone.now()
    enrolments = [
        Enrolment(platform=platform, pseudonym=f"BENCH-{n}", key_epoch=1,
                  sealed_fields={"email": "sealed"}, evidence_provider="bench",
                  evidence_assurance_level="high", evidence_verified_at=now,
                  idempotency_key=str(uuid.uuid4()), request_fingerprint=bytes(32),
                  created_at=now)
        for n in range(-(-rows // len(KINDS)))
    ]
    Enrolment.objects.bulk_create(enrolments, batch_size=2000)
    indexes = [
        BlindIndex(platform=platform, enrolment=e, kind=kind, digest=secrets.token_bytes(16))
        for e in enrolments for kind in KINDS
    ][:rows]
    BlindIndex.objects.bulk_create(indexes, batch_size=2000)


def _read_baseline(batch: int) -> tuple[int, float]:
    from django.db import transaction

    from escrow.vault.models import BlindIndex

    started, last_id, seen = time.perf_counter(), 0, 0
    while True:
        with transaction.atomic():
            rows = list(BlindIndex.objects.select_for_update().filter(version=1, id__gt=last_id)
                        .order_by("id").only("id", "platform_id", "digest")[:batch])
        if not rows:
            return seen, time.perf_counter() - started
        seen, last_id = seen + len(rows), rows[-1].id


def _rotation(batch: int) -> tuple[int, float]:
    from escrow.log.events import Actor
    from escrow.vault.services.secret_versions import (
        blind_index_rotation_batch,
        blind_index_rotation_finish,
        blind_index_rotation_start,
    )

    actor = Actor.system("benchmark")
    started = time.perf_counter()
    rotation = blind_index_rotation_start(to_version=2, actor=actor)
    while blind_index_rotation_batch(rotation=rotation, batch_size=batch):
        pass
    if not blind_index_rotation_finish(rotation=rotation, actor=actor):
        raise SystemExit("rows were left under the old version")
    return rotation.rows_done, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        _populate(args.rows)
        read_rows, read_s = _read_baseline(args.batch)
        rotated_rows, rotate_s = _rotation(args.batch)
        read_rate, rotate_rate = read_rows / read_s, rotated_rows / rotate_s
        print(f"database: {connection.vendor}; {rotated_rows} index rows; batches of "
              f"{args.batch}")
        print(f"baseline (locked batch reads):  {read_rate:>10.0f} rows/s")
        print(f"rotation (re-key and write):    {rotate_rate:>10.0f} rows/s "
              f"({read_rate / rotate_rate:.1f}x the baseline's time per row)")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
