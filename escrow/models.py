from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q

from escrow.log.db import CurrentTransactionId


class AuditEvent(models.Model):
    """One security-relevant event, written in the same transaction as the change.

    `entry` is the canonical leaf the verifiable log will hash (see escrow/audit.py);
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


class EscrowKey(models.Model):
    """The public half of one key ceremony: escrow key, commitments, verification keys."""

    epoch = models.PositiveIntegerField(primary_key=True)
    threshold = models.PositiveSmallIntegerField()
    custodian_count = models.PositiveSmallIntegerField()
    public_key = models.JSONField()
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(threshold__gte=1) & Q(threshold__lte=models.F("custodian_count")),
                name="escrow_key_threshold_within_custodians",
            ),
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_escrow_key"
            ),
        ]

    def __str__(self) -> str:
        return f"escrow key epoch {self.epoch} ({self.threshold} of {self.custodian_count})"


class CustodianKey(models.Model):
    """Which staff member holds share `index` of an epoch, and its verification key."""

    escrow_key = models.ForeignKey(EscrowKey, on_delete=models.PROTECT, related_name="custodians")
    index = models.PositiveSmallIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    verification_key = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["escrow_key", "index"], name="one_holder_per_share"),
            models.UniqueConstraint(fields=["escrow_key", "user"], name="one_share_per_custodian"),
        ]

    def __str__(self) -> str:
        return f"share {self.index} of epoch {self.escrow_key_id}"


class Enrolment(models.Model):
    """A platform user's escrowed identity behind one pseudonym.

    Identity fields exist only inside `sealed_fields` (field name -> sealed envelope,
    base64), each decryptable only with k custodians' cooperation. Erasure clears them.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        BANNED = "banned"
        ERASED = "erased"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    platform = models.ForeignKey("accounts.Platform", on_delete=models.PROTECT)
    pseudonym = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    key_epoch = models.PositiveIntegerField()
    sealed_fields = models.JSONField(null=True, blank=True)
    # What the identity rests on; provider and level are not personal, the provider's
    # own reference for the person is, so it is sealed like any identity field.
    evidence_provider = models.CharField(max_length=100)
    evidence_assurance_level = models.CharField(max_length=32)
    evidence_verified_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=255)
    request_fingerprint = models.BinaryField(max_length=32)
    created_at = models.DateTimeField()
    banned_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "idempotency_key"], name="enrolment_idempotency_key_unique"
            ),
            models.CheckConstraint(
                condition=Q(status="erased", sealed_fields__isnull=True)
                | (~Q(status="erased") & Q(sealed_fields__isnull=False)),
                name="enrolment_erased_iff_shredded",
            ),
        ]

    def __str__(self) -> str:
        return self.pseudonym


class BlindIndex(models.Model):
    """A keyed HMAC of normalised identity attributes, scoped to one platform."""

    id = models.BigAutoField(primary_key=True)
    platform = models.ForeignKey("accounts.Platform", on_delete=models.PROTECT, db_index=False)
    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16)
    digest = models.BinaryField(max_length=32)

    class Meta:
        indexes = [models.Index(fields=["platform", "digest"], name="blind_index_lookup")]

    def __str__(self) -> str:
        return f"{self.kind} index"


# The verifiable log's tables belong to this app (escrow/log/models.py).
from escrow.log.models import (  # noqa: E402, F401
    LogCheckpoint,
    LogCosignature,
    LogEntry,
    LogTile,
)
