from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class LegalHold(models.Model):
    """A preservation request: the enrolment must not be erased until it lapses."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    enrolment = models.ForeignKey(
        "escrow.Enrolment", on_delete=models.PROTECT, related_name="legal_holds"
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
        indexes = [models.Index(fields=["enrolment", "expires_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("placed_at")), name="hold_expires_after_placed"
            )
        ]

    def __str__(self) -> str:
        return f"legal hold {self.id}"
