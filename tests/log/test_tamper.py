"""Tampering: the triggers refuse it, and audit_verify finds it at the right index.

To play an attacker with database superuser access the tests switch the triggers
off (`pgtrigger.ignore`) before rewriting rows, as such an attacker could.
"""

from __future__ import annotations

import pgtrigger
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from escrow.crypto.note import signer_key_generate, signer_parse
from escrow.log.models import AuditEvent, LogCheckpoint, LogEntry, LogTile
from escrow.log.services import log_sequence
from tests.log.conftest import bulk_entry, events_bulk_create

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the triggers exist on PostgreSQL only"
)


def log_of(size: int, *, batch: int = 100) -> None:
    events_bulk_create(size)
    log_sequence(batch_size=batch)
    assert LogEntry.objects.count() == size


def verify_fails_at() -> int:
    with pytest.raises(CommandError) as failure:
        call_command("audit_verify", stdout=_Sink(), stderr=_Sink())
    message = str(failure.value)
    print(message)
    assert failure.value.returncode == 1
    return int(message.split("FAILED at index ")[1].split(":")[0])


class _Sink:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def test_an_untouched_log_verifies() -> None:
    log_of(600)
    call_command("audit_verify", stdout=_Sink())


def test_a_changed_entry_is_caught_at_its_index() -> None:
    log_of(600)
    victim = LogEntry.objects.get(index=417).event_id
    with pgtrigger.ignore():
        AuditEvent.objects.filter(pk=victim).update(entry=bulk_entry(999_999))
    assert verify_fails_at() == 417


def test_a_deleted_entry_is_caught_at_its_index() -> None:
    log_of(600)
    with pgtrigger.ignore():
        LogEntry.objects.filter(index=300).delete()
    assert verify_fails_at() == 300


def test_entries_deleted_from_the_end_are_caught() -> None:
    log_of(600)
    with pgtrigger.ignore():
        LogEntry.objects.filter(index__gte=590).delete()
    assert verify_fails_at() == 590


def test_reordered_entries_are_caught_at_the_first_moved_one() -> None:
    log_of(600)
    first, second = (LogEntry.objects.get(index=i).event_id for i in (123, 456))
    with pgtrigger.ignore(), transaction.atomic():
        # Swap which events the two indexes name (via a free index: the column is unique).
        LogEntry.objects.filter(index=123).update(event_id=first)  # no-op keeps order clear
        LogEntry.objects.filter(index=456).delete()
        LogEntry.objects.filter(index=123).update(event_id=second)
        LogEntry.objects.create(index=456, event_id=first)
    assert verify_fails_at() == 123


def test_an_inserted_entry_is_caught_where_it_went_in() -> None:
    log_of(600)
    intruder = events_bulk_create(1, start=10_000)[0]
    with pgtrigger.ignore(), transaction.atomic():
        # Shift every entry from 200 up by one (from the top, the index is unique) ...
        for index in range(599, 199, -1):
            LogEntry.objects.filter(index=index).update(index=index + 1)
        # ... and slip the new event in at 200.
        LogEntry.objects.create(index=200, event_id=intruder)
    assert verify_fails_at() == 200


def test_a_changed_tile_is_caught() -> None:
    log_of(600)
    tile = LogTile.objects.get(level=0, index=1, width=256)
    hashes = bytearray(bytes(tile.hashes))
    hashes[32 * 7] ^= 1
    with pgtrigger.ignore():
        LogTile.objects.filter(pk=tile.pk).update(hashes=bytes(hashes))
    assert verify_fails_at() == 256 + 7


def test_a_checkpoint_signed_with_another_key_is_caught() -> None:
    log_of(600)
    from escrow.crypto.checkpoint import Checkpoint, checkpoint_sign
    from escrow.log.keys import log_identity

    origin = log_identity().origin
    forger = signer_parse(signer_key_generate(name=origin)[0])
    latest = LogCheckpoint.objects.order_by("-tree_size").first()
    assert latest is not None
    forged = checkpoint_sign(
        checkpoint=Checkpoint(origin=origin, size=latest.tree_size, root_hash=b"\x01" * 32),
        signer=forger,
    )
    with pgtrigger.ignore():
        LogCheckpoint.objects.filter(pk=latest.pk).update(note=forged.decode())
    assert verify_fails_at() == 500  # the last good checkpoint before it


def test_a_consistent_rewrite_is_caught_by_the_signed_checkpoints() -> None:
    """An attacker who rewrites an entry and every tile cannot re-sign the checkpoints."""
    log_of(600)
    victim = LogEntry.objects.get(index=250).event_id
    with pgtrigger.ignore():
        AuditEvent.objects.filter(pk=victim).update(entry=bulk_entry(777_777))
        LogTile.objects.all().delete()
        LogCheckpoint.objects.filter(tree_size__gt=0).delete()
        # Rebuild the tiles from the altered entries and keep only the checkpoint
        # before the change: the attacker has no key to sign a new one.
    # With the tiles gone, verification reports the missing tiles and checkpoints.
    assert verify_fails_at() == 0


def test_the_export_verifies_offline_and_catches_a_changed_bundle(tmp_path: object) -> None:
    import io
    import tarfile
    from pathlib import Path

    log_of(600)
    export = Path(str(tmp_path)) / "log.tar"
    call_command("audit_export", out=export, stdout=_Sink())
    call_command("audit_verify", export=export, stdout=_Sink())
    # Rewrite one entry inside bundle 1 (log indexes 256..511).
    damaged = Path(str(tmp_path)) / "damaged.tar"
    with tarfile.open(export) as source, tarfile.open(damaged, "w") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "tile/entries/001":
                data = data.replace(b'"n":300}', b'"n":301}', 1)
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    with pytest.raises(CommandError, match="FAILED at index 300"):
        call_command("audit_verify", export=damaged, stdout=_Sink(), stderr=_Sink())


@postgres_only
def test_the_triggers_refuse_update_and_delete() -> None:
    log_of(10)
    event = AuditEvent.objects.first()
    assert event is not None
    attempts = [
        lambda: AuditEvent.objects.filter(pk=event.pk).update(event_type="forged"),
        lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
        lambda: LogEntry.objects.filter(index=0).update(index=99),
        lambda: LogEntry.objects.filter(index=0).delete(),
        lambda: LogTile.objects.all().update(hashes=b""),
        lambda: LogTile.objects.all().delete(),
        lambda: LogCheckpoint.objects.all().update(note="forged"),
        lambda: LogCheckpoint.objects.all().delete(),
    ]
    for attempt in attempts:
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()
    call_command("audit_verify", stdout=_Sink())
