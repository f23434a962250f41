"""The vault: escrowed identities behind pseudonyms, the escrow keys, legal holds."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


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
    # The pseudonym secret version it was derived under: pseudonyms are public handles
    # and never re-derived, so this records provenance across secret rotations.
    pseudonym_version = models.PositiveSmallIntegerField(default=1)
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
    # The blind-index secret version of `digest`; see BlindIndexRotation.
    version = models.PositiveSmallIntegerField(default=1)

    class Meta:
        indexes = [
            # The digest first: a signup looks up a few digests on one platform, and with
            # the platform first PostgreSQL could read every index entry of the platform
            # and filter them, which it did with statistics taken while the table was
            # small and in a prepared statement's generic plan: one signup then cost
            # time in proportion to the platform's enrolments.
            models.Index(fields=["digest", "platform"], name="blind_index_digest"),
            # What a rotation batch reads: the next rows still under the old version.
            models.Index(fields=["version", "id"], name="blind_index_version"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} index"


class BlindIndexRotation(models.Model):
    """One rotation of the blind-index secret, and its progress (so it can be resumed).

    While unfinished, both versions are live; once finished, `from_version` is retired.
    """

    to_version = models.PositiveSmallIntegerField(primary_key=True)
    from_version = models.PositiveSmallIntegerField()
    rows_total = models.PositiveBigIntegerField(default=0)
    rows_done = models.PositiveBigIntegerField(default=0)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(to_version__gt=models.F("from_version")),
                name="blind_index_rotation_moves_forward",
            ),
        ]

    def __str__(self) -> str:
        return f"blind-index rotation {self.from_version} -> {self.to_version}"


class LegalHold(models.Model):
    """A preservation request: the enrolment must not be erased until it lapses."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    enrolment = models.ForeignKey(
        Enrolment, on_delete=models.PROTECT, related_name="legal_holds"
    )
    agency = models.ForeignKey("accounts.Agency", null=True, blank=True, on_delete=models.PROTECT)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    placed_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    extended = models.BooleanField(default=False)
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Moved here from legal_requests; the table kept its name.
        db_table = "legal_requests_legalhold"
        indexes = [models.Index(fields=["enrolment", "expires_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("placed_at")), name="hold_expires_after_placed"
            )
        ]

    def __str__(self) -> str:
        return f"legal hold {self.id}"
