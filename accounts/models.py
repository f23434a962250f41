from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Platform(models.Model):
    """A tenant: a service whose users enrol and receive pseudonyms."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Jurisdiction(models.Model):
    """A legal system requests can come from; only enabled ones are accepted at intake."""

    code = models.CharField(max_length=16, primary_key=True)  # e.g. "GB-EAW", "US"
    name = models.CharField(max_length=200)
    is_enabled = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.code


class Agency(models.Model):
    """A verified requesting body (police force, court, regulator)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    jurisdiction = models.ForeignKey(Jurisdiction, on_delete=models.PROTECT)
    # Contact details on file, used for call-back verification of emergency requests:
    # never the details a request itself supplies.
    callback_phone = models.CharField(max_length=40)
    callback_email = models.EmailField()
    # X25519 public key (base64) to which released packages are encrypted, if registered.
    package_public_key = models.CharField(max_length=64, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "agencies"

    def __str__(self) -> str:
        return self.name


class ApiCredential(models.Model):
    """A platform's or agency's API key: shown once, stored as a hash, found by prefix.

    The secret part is 256 random bits, so a single SHA-256 is a sound verifier
    (slow password hashes exist for low-entropy human secrets, and would only make
    every API call slower here).
    """

    class Scope(models.TextChoices):
        ENROLMENTS_WRITE = "enrolments:write"
        ENROLMENTS_READ = "enrolments:read"
        DISCLOSURES = "disclosures"

    id = models.BigAutoField(primary_key=True)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.BinaryField(max_length=32)
    platform = models.ForeignKey(Platform, null=True, blank=True, on_delete=models.CASCADE)
    agency = models.ForeignKey(Agency, null=True, blank=True, on_delete=models.CASCADE)
    label = models.CharField(max_length=100, blank=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set on rotation: the old key keeps working until then, so clients can roll over.
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(platform__isnull=False, agency__isnull=True)
                    | Q(platform__isnull=True, agency__isnull=False)
                ),
                name="credential_has_exactly_one_owner",
            )
        ]

    def __str__(self) -> str:
        return f"credential {self.prefix}"


class StaffToken(models.Model):
    """A short-lived personal API token, issued after password and TOTP."""

    id = models.BigAutoField(primary_key=True)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.BinaryField(max_length=32)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"staff token {self.prefix}"


class WebhookEndpoint(models.Model):
    """Where a platform receives signed events (Standard Webhooks scheme)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    # "whsec_" + base64 secret, as the Standard Webhooks libraries take it. Stored in
    # the clear because the service must sign with it; it authenticates us, not them.
    signing_secret = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"webhook {self.id}"


class WebhookDelivery(models.Model):
    """One event owed to one platform endpoint, retried until delivered or abandoned.

    `due_at` is the deadline a beat task scans for: the first attempt's time (after a
    non-disclosure period, say), then each retry's. The id is the stable `webhook-id`
    (Standard Webhooks), so a platform that receives a retry can tell it is the same
    event; `dedupe_key` stops the same event being scheduled twice.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE,
                                 related_name="deliveries")
    event_type = models.CharField(max_length=64)
    # What the event is about (e.g. "disclosure_request:<uuid>"), for finding its deliveries.
    subject_ref = models.CharField(max_length=100)
    dedupe_key = models.CharField(max_length=200, unique=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    due_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    abandoned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["due_at"],
                condition=Q(delivered_at__isnull=True, abandoned_at__isnull=True),
                name="webhook_delivery_due",
            ),
            models.Index(fields=["subject_ref"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(delivered_at__isnull=True) | Q(abandoned_at__isnull=True),
                name="webhook_delivered_or_abandoned_not_both",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.endpoint_id}"

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.id.hex}"


class SignInFailureTally(models.Model):
    """Failed sign-ins for one attempted username in one window (docs/reliability.md).

    A password flood must not grow the append-only log without bound: the first failure
    of a window writes an audit event, later ones only count here, and one event reports
    the count when the lockout starts or the window closes. The username is kept only
    as a keyed digest (accounts.sign_in_limits.account_key), never in clear.
    """

    account_key = models.CharField(max_length=64, unique=True)
    window_started_at = models.DateTimeField()
    window_ends_at = models.DateTimeField(db_index=True)
    failures = models.PositiveIntegerField(default=0)
    # Failures already reported by an audit event (the first one, then the lockout's).
    failures_reported = models.PositiveIntegerField(default=0)
    # Attempts refused unheard because the account or address was locked out.
    refused = models.PositiveIntegerField(default=0)
    locked_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(failures_reported__lte=models.F("failures")),
                name="sign_in_tally_reported_within_failures",
            ),
            models.CheckConstraint(
                condition=Q(window_ends_at__gt=models.F("window_started_at")),
                name="sign_in_tally_window_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"sign-in failures {self.pk}: {self.failures}"
