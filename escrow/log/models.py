"""The log's storage: sequenced entries, hash tiles, signed checkpoints, cosignatures.

Every table here is append-only. On PostgreSQL, triggers refuse UPDATE and DELETE
(`pgtrigger.Protect`), so even the application's own database role cannot rewrite
history; someone who can drop the triggers still cannot do it unnoticed, because
`manage.py audit_verify` and every tlog client recompute the tree from the entries.

The tables keep the names they had when the log's models lived in the vault app
(`escrow_*`), so moving them into this app changed no table.
"""

from __future__ import annotations

import pgtrigger
from django.db import models
from django.db.models import Q
from django.utils import timezone

from escrow.log.db import CurrentTransactionId

_APPEND_ONLY = pgtrigger.Update | pgtrigger.Delete


class AuditEvent(models.Model):
    """One security-relevant event, written in the same transaction as the change.

    `entry` is the canonical leaf the verifiable log will hash (see escrow/log/events.py);
    it carries no personal data. Anything sensitive lives only in `sealed_detail`,
    encrypted, and is represented in the entry by a salted commitment.
    """

    id = models.BigAutoField(primary_key=True)
    event_type = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=16)
    actor_ref = models.CharField(max_length=64)
    actor_role = models.CharField(max_length=32, blank=True)
    object_ref = models.CharField(max_length=100, blank=True)
    platform = models.ForeignKey(
        "accounts.Platform", null=True, blank=True, on_delete=models.PROTECT, db_index=False
    )
    commitment = models.BinaryField(max_length=32, null=True, blank=True)
    sealed_detail = models.BinaryField(null=True, blank=True)
    entry = models.BinaryField()
    # Filled by the database in the same INSERT; the log sequencer's ordering key.
    log_txid = models.BigIntegerField(null=True, editable=False, db_default=CurrentTransactionId())

    class Meta:
        db_table = "escrow_auditevent"
        indexes = [
            models.Index(fields=["event_type", "occurred_at"]),
            models.Index(fields=["object_ref"]),
            models.Index(fields=["log_txid", "id"], name="audit_event_log_order"),
        ]
        # The log's leaves live in `entry`: an event is never changed or removed.
        triggers = [
            pgtrigger.Protect(
                name="audit_event_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.pk}"


class LogEntry(models.Model):
    """Leaf `index` of the log is the canonical entry of `event`.

    The leaf bytes stay in `AuditEvent.entry`, so the log holds no second copy
    that could drift from the event.
    """

    index = models.BigIntegerField(primary_key=True)
    event = models.OneToOneField(
        AuditEvent, on_delete=models.PROTECT, related_name="log_entry"
    )

    class Meta:
        db_table = "escrow_logentry"
        constraints = [models.CheckConstraint(condition=Q(index__gte=0), name="log_index_natural")]
        triggers = [pgtrigger.Protect(name="log_entry_append_only", operation=_APPEND_ONLY)]

    def __str__(self) -> str:
        return f"log entry {self.index}"


class LogTile(models.Model):
    """One C2SP tlog-tiles hash tile, as it was for some tree size.

    A partial tile is never changed when the tree grows: the wider version is a new
    row. Hashes within a tile never change either, so any width can be served as a
    prefix of a wider row of the same tile.
    """

    id = models.BigAutoField(primary_key=True)
    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    width = models.PositiveSmallIntegerField()
    hashes = models.BinaryField()

    class Meta:
        db_table = "escrow_logtile"
        constraints = [
            models.UniqueConstraint(fields=["level", "index", "width"], name="log_tile_unique"),
            models.CheckConstraint(
                condition=Q(width__gte=1, width__lte=256, level__lte=63, index__gte=0),
                name="log_tile_shape",
            ),
        ]
        triggers = [pgtrigger.Protect(name="log_tile_append_only", operation=_APPEND_ONLY)]

    def __str__(self) -> str:
        return f"tile {self.level}/{self.index} width {self.width}"


class LogCheckpoint(models.Model):
    """A signed C2SP tlog-checkpoint: the log's commitment to its first `tree_size` entries."""

    id = models.BigAutoField(primary_key=True)
    tree_size = models.BigIntegerField(unique=True)
    root_hash = models.BinaryField(max_length=32)
    # The signed note exactly as signed and served (checkpoint body, blank line,
    # the log's signature line).
    note = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "escrow_logcheckpoint"
        constraints = [
            models.CheckConstraint(condition=Q(tree_size__gte=0), name="log_checkpoint_size")
        ]
        triggers = [pgtrigger.Protect(name="log_checkpoint_append_only", operation=_APPEND_ONLY)]

    def __str__(self) -> str:
        return f"checkpoint {self.tree_size}"


class LogCosignature(models.Model):
    """A witness's C2SP tlog-cosignature line on one checkpoint."""

    id = models.BigAutoField(primary_key=True)
    checkpoint = models.ForeignKey(
        LogCheckpoint, on_delete=models.PROTECT, related_name="cosignatures"
    )
    witness_name = models.CharField(max_length=255)
    key_id = models.BigIntegerField()
    # The signature line as the witness sent it ("— <name> <base64>").
    line = models.TextField()
    # Seconds since the epoch at which the witness cosigned (part of what it signed).
    cosigned_at = models.BigIntegerField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "escrow_logcosignature"
        constraints = [
            models.UniqueConstraint(
                fields=["checkpoint", "witness_name", "key_id"], name="one_cosignature_per_witness"
            )
        ]
        triggers = [
            pgtrigger.Protect(name="log_cosignature_append_only", operation=_APPEND_ONLY)
        ]

    def __str__(self) -> str:
        return f"cosignature by {self.witness_name} on {self.checkpoint_id}"


__all__ = ["AuditEvent", "LogCheckpoint", "LogCosignature", "LogEntry", "LogTile"]
