from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q

from escrow.sealed_field import SealedTextField

# Sets CredentialGeneration to a value it never held before (the next number of a
# sequence, which neither a rollback nor a truncation gives out again): any key verified
# in memory before this change stops being trusted, in every process, as soon as the
# change commits, and in the changing transaction at once. See accounts/authentication.py.
# The sequence is created by migration accounts 0006.
_CREDENTIAL_GENERATION_BUMP = (
    "INSERT INTO accounts_credentialgeneration (id, value) "
    "VALUES (1, nextval('accounts_credential_generation')) "
    "ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value; RETURN NULL;"
)


def _credential_generation_bump(name: str, operation: pgtrigger.Operation) -> pgtrigger.Trigger:
    return pgtrigger.Trigger(
        name=name, when=pgtrigger.After, operation=operation, level=pgtrigger.Statement,
        func=_CREDENTIAL_GENERATION_BUMP,
    )


class Platform(models.Model):
    """A tenant: a service whose users enrol and receive pseudonyms."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        triggers = [
            _credential_generation_bump(
                "platform_standing_changed", pgtrigger.UpdateOf("is_active") | pgtrigger.Delete
            )
        ]

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
    # never the details a request itself supplies. Sealed at rest (escrow.sealed_field).
    callback_phone = SealedTextField()
    callback_email = SealedTextField()
    # X25519 public key (base64) to which released packages are encrypted, if registered.
    package_public_key = models.CharField(max_length=64, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "agencies"
        triggers = [
            _credential_generation_bump(
                "agency_standing_changed", pgtrigger.UpdateOf("is_active") | pgtrigger.Delete
            )
        ]

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
        # Any change at all (revocation, expiry, scopes, owner, removal), however it is
        # made: the service, the admin, a queryset update or plain SQL.
        triggers = [
            _credential_generation_bump(
                "credential_changed", pgtrigger.Update | pgtrigger.Delete | pgtrigger.Truncate
            )
        ]

    def __str__(self) -> str:
        return f"credential {self.prefix}"


class CredentialGeneration(models.Model):
    """One row whose value changes, by database trigger, whenever an API credential or
    its owner's standing changes. A process may keep keys it has verified in memory
    while the value it read alongside them is still current (accounts/authentication.py).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"credential generation {self.value}"


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


class WebhookEventType(models.TextChoices):
    """The events a platform's endpoints can receive (`type` in the Standard Webhooks body)."""

    IDENTITY_DISCLOSED = "identity.disclosed"
    ENROLMENT_ERASED = "enrolment.erased"
    TEST = "webhook.test"


class WebhookEndpoint(models.Model):
    """Where a platform receives signed events (Standard Webhooks scheme)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    # Event types this endpoint receives; empty means every type.
    event_types = models.JSONField(default=list, blank=True)
    # "whsec_" + base64 secret, as the Standard Webhooks libraries take it. Stored in
    # the clear because the service must sign with it; it authenticates us, not them.
    signing_secret = models.CharField(max_length=100)
    # After a rotation the old secret signs too, until it lapses, so a receiver that
    # still holds it keeps verifying while it rolls over (Standard Webhooks allows
    # several space-separated signatures in `webhook-signature`).
    previous_signing_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(previous_signing_secret="", previous_secret_expires_at__isnull=True)
                    | (~Q(previous_signing_secret="")
                       & Q(previous_secret_expires_at__isnull=False))
                ),
                name="webhook_previous_secret_has_expiry",
            )
        ]

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


class WebhookAttempt(models.Model):
    """One try at sending a delivery: when, the receiver's answer, how long it took."""

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE,
                                 related_name="attempt_log")
    attempted_at = models.DateTimeField()
    # None when no HTTP answer came (refused, timed out, redirected).
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # The error's kind ("HTTP 500", "TimeoutError"), never the receiver's response body.
    error = models.CharField(max_length=200, blank=True)
    duration_ms = models.PositiveIntegerField()
    succeeded = models.BooleanField()

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"attempt {self.id} of {self.delivery_id}"


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


class StaffChange(models.Model):
    """A change to a staff account that one administrator proposes and a second one
    approves before it is made: a password or second-factor reset, or the grant of a
    privileged role (accounts/services_staff.py). No one person can take over an
    approver's account, or make a second approver they control, alone.
    """

    class Kind(models.TextChoices):
        PASSWORD_RESET = "password_reset", "Password reset"
        SECOND_FACTOR_RESET = "second_factor_reset", "Second-factor reset"
        ROLE_GRANT = "role_grant", "Role grant"

    class State(models.TextChoices):
        PROPOSED = "proposed"
        EXECUTED = "executed"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PROPOSED)
    target = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                               related_name="+")
    role = models.CharField(max_length=32, blank=True)  # for a role grant
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="+")
    proposed_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # The second administrator is a second person; nobody approves a change to
            # their own account.
            models.CheckConstraint(
                condition=~Q(decided_by=models.F("proposed_by"), state="executed"),
                name="staff_change_two_people",
            ),
            models.CheckConstraint(
                condition=~Q(target=models.F("proposed_by"))
                & ~Q(target=models.F("decided_by")),
                name="staff_change_not_own_account",
            ),
            models.CheckConstraint(
                condition=Q(kind="role_grant") ^ Q(role=""), name="staff_change_role_iff_grant",
            ),
            models.UniqueConstraint(
                fields=["target", "kind", "role"], condition=Q(state="proposed"),
                name="staff_change_one_open_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for staff:{self.target_id} ({self.state})"


class StaffMail(models.Model):
    """A message to a staff member about their own account (the accounts outbox).

    Written in the transaction that makes the change, sent after commit by a task and
    retried by a beat scan (accounts/services_staff.py), like the disclosure outbox one
    layer up. A temporary password travels sealed under a service key, bound to the
    row, and is dropped as soon as the message is sent or given up.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        DEAD = "dead"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    kind = models.CharField(max_length=40)
    recipient = SealedTextField()  # an address: sealed, never filtered on
    subject = models.CharField(max_length=200)
    body = models.TextField()
    secret_sealed = models.BinaryField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="staff_mail_due")]
        constraints = [
            models.CheckConstraint(condition=Q(state="pending") | Q(secret_sealed__isnull=True),
                                   name="staff_mail_secret_only_while_pending"),
        ]

    def __str__(self) -> str:
        return f"staff mail {self.id} ({self.kind}, {self.state})"
