"""Disclosure requests, their approvals, custodians' partials and releases.

The request's `state` moves only through the transitions on DisclosureRequest (django-fsm,
protected field, compare-and-swap on save): see that class for the graph.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from escrow.sealed_field import SealedTextField
from escrow.vault.identity import IDENTITY_FIELDS


class LegalBasis(models.Model):
    """A kind of legal authority, per jurisdiction, with what it may ever release."""

    code = models.CharField(max_length=48, primary_key=True)  # e.g. "GB-EAW:production-order"
    jurisdiction = models.ForeignKey("accounts.Jurisdiction", on_delete=models.PROTECT)
    name = models.CharField(max_length=200)
    # Identity field names (escrow.vault.identity.IDENTITY_FIELDS) this basis can ever release.
    releasable_fields = models.JSONField(default=list)
    approvals_required = models.PositiveSmallIntegerField(default=2)
    is_emergency = models.BooleanField(default=False)
    is_enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "legal bases"
        constraints = [
            models.CheckConstraint(
                condition=Q(approvals_required__gte=1), name="basis_needs_an_approval"
            )
        ]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        unknown = sorted(set(self.releasable_fields or []) - set(IDENTITY_FIELDS))
        if unknown or not isinstance(self.releasable_fields, list):
            raise ValidationError(
                {"releasable_fields": f"not identity fields: {', '.join(unknown) or '-'}"}
            )
        if self.jurisdiction_id and not self.code.startswith(f"{self.jurisdiction_id}:"):
            raise ValidationError({"code": "the code starts with the jurisdiction, e.g. 'US:'"})
        # Only an emergency basis may rest on a single approver's judgement.
        if not self.is_emergency and self.approvals_required < 2:
            raise ValidationError(
                {"approvals_required": "a non-emergency basis needs at least two approvals"}
            )


class DisclosureRequest(ConcurrentTransitionMixin, models.Model):
    """A request for the identities behind pseudonyms, and the state it has reached.

        received --start_review--> in_review --approve--> approved --begin_release--> releasing
        releasing --mark_released--> released --close--> closed
        in_review --request_information--> needs_information --answer_information--> in_review
        received | in_review | needs_information --reject--> rejected
        received | in_review | needs_information | approved --withdraw--> withdrawn
        received | in_review | needs_information | approved | releasing --expire--> expired

    The transitions are the django-fsm methods below: an illegal move raises
    TransitionNotAllowed, and the protected `state` field cannot be assigned directly.
    ConcurrentTransitionMixin makes `save()` an `UPDATE ... WHERE id = %s AND state = <state
    when loaded>` that raises ConcurrentTransition if another worker moved the row first.
    The methods only change the state: services move a request through
    legal_requests/services/workflow.py, which also saves the row and logs the move.
    """

    class State(models.TextChoices):
        RECEIVED = "received"
        IN_REVIEW = "in_review"
        NEEDS_INFORMATION = "needs_information"
        APPROVED = "approved"
        RELEASING = "releasing"
        RELEASED = "released"
        CLOSED = "closed"
        REJECTED = "rejected"
        WITHDRAWN = "withdrawn"
        EXPIRED = "expired"

    # States from which a request may still lead to a release; expiry and withdrawal end them.
    OPEN_STATES = (State.RECEIVED, State.IN_REVIEW, State.NEEDS_INFORMATION, State.APPROVED,
                   State.RELEASING)
    UNDECIDED_STATES = (State.RECEIVED, State.IN_REVIEW, State.NEEDS_INFORMATION)
    # States in which custodians' partials can still be combined into a release.
    RELEASE_STATES = (State.APPROVED, State.RELEASING)
    # Audit events and webhook deliveries name a request `disclosure_request:<id>`.
    OBJECT_REF_PREFIX = "disclosure_request:"

    class Channel(models.TextChoices):
        API = "api"  # submitted by the agency with its credentials
        PAPER = "paper"  # entered by an intake officer from a document received

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=32, unique=True)  # "DR-2026-000123"
    state = FSMField(default=State.RECEIVED, choices=State.choices, protected=True)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    agency = models.ForeignKey("accounts.Agency", on_delete=models.PROTECT)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    # Requesting officer, in their official capacity; sealed at rest, like the
    # justification (escrow.sealed_field), and read as text through the model.
    officer_name = SealedTextField()
    officer_rank = SealedTextField(blank=True)
    officer_badge = SealedTextField(blank=True)
    officer_email = SealedTextField()
    officer_phone = SealedTextField()
    case_reference = SealedTextField()  # at most 100 characters (the API's and form's limit)
    legal_basis = models.ForeignKey(LegalBasis, on_delete=models.PROTECT)
    issuing_authority = SealedTextField()  # at most 200 characters
    # The legal document, AES-256-GCM under a service key; its SHA-256 goes into the log.
    document_sealed = models.BinaryField()
    document_sha256 = models.BinaryField(max_length=32)
    document_name = models.CharField(max_length=200)
    document_content_type = models.CharField(max_length=100)
    document_size = models.PositiveIntegerField(default=0)
    issued_on = models.DateField()
    expires_at = models.DateTimeField()
    requested_fields = models.JSONField(default=list)
    justification = SealedTextField()
    nondisclosure_until = models.DateField(null=True, blank=True)
    nondisclosure_basis = models.CharField(max_length=200, blank=True)
    is_emergency = models.BooleanField(default=False)
    emergency_facts = models.TextField(blank=True)
    callback_verified_at = models.DateTimeField(null=True, blank=True)
    callback_verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    # Emergency releases need a retrospective review by two other approvers by then.
    review_due_at = models.DateTimeField(null=True, blank=True)
    review_escalated_at = models.DateTimeField(null=True, blank=True)
    # The audit event of the approval that opened the release (custodians check that it
    # is included in a signed checkpoint before they consent).
    approval_event = models.ForeignKey(
        "log.AuditEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    information_request = models.TextField(blank=True)
    information_response = models.TextField(blank=True)
    outcome_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "expires_at"]),
            models.Index(fields=["agency", "created_at"]),
            models.Index(fields=["review_due_at"]),
        ]
        constraints = [
            # An emergency request can never be approved or released without the recorded
            # call-back verification of the requester (defence in depth behind the service).
            models.CheckConstraint(
                condition=~Q(
                    is_emergency=True,
                    callback_verified_at__isnull=True,
                    state__in=["approved", "releasing", "released", "closed"],
                ),
                name="emergency_release_needs_callback",
            )
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def object_ref(self) -> str:
        """The `object_ref` of this request's audit events."""
        return f"{self.OBJECT_REF_PREFIX}{self.pk}"

    @transition(field="state", source=State.RECEIVED, target=State.IN_REVIEW)
    def start_review(self) -> None:
        pass

    @transition(field="state", source=State.IN_REVIEW, target=State.NEEDS_INFORMATION)
    def request_information(self) -> None:
        pass

    @transition(field="state", source=State.NEEDS_INFORMATION, target=State.IN_REVIEW)
    def answer_information(self) -> None:
        pass

    @transition(field="state", source=State.IN_REVIEW, target=State.APPROVED)
    def approve(self) -> None:
        pass

    @transition(field="state", source=list(UNDECIDED_STATES), target=State.REJECTED)
    def reject(self) -> None:
        pass

    @transition(field="state", source=[*UNDECIDED_STATES, State.APPROVED],
                target=State.WITHDRAWN)
    def withdraw(self) -> None:
        pass

    @transition(field="state", source=list(OPEN_STATES), target=State.EXPIRED)
    def expire(self) -> None:
        pass

    @transition(field="state", source=State.APPROVED, target=State.RELEASING)
    def begin_release(self) -> None:
        pass

    @transition(field="state", source=State.RELEASING, target=State.RELEASED)
    def mark_released(self) -> None:
        pass

    @transition(field="state", source=State.RELEASED, target=State.CLOSED)
    def close(self) -> None:
        pass


class RequestTarget(models.Model):
    """One pseudonym named by a request, resolved to the enrolment at intake."""

    request = models.ForeignKey(DisclosureRequest, on_delete=models.CASCADE,
                                related_name="targets")
    pseudonym = models.CharField(max_length=32)
    enrolment = models.ForeignKey("escrow.Enrolment", on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "enrolment"], name="target_once")
        ]

    def __str__(self) -> str:
        return self.pseudonym


class Approval(models.Model):
    """One approver's decision. Separation of duties is enforced in the service and here."""

    class Decision(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"

    class Stage(models.TextChoices):
        DECISION = "decision"  # before release
        RETROSPECTIVE = "retrospective"  # after an emergency release

    request = models.ForeignKey(DisclosureRequest, on_delete=models.CASCADE,
                                related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    decision = models.CharField(max_length=8, choices=Decision.choices)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.DECISION)
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    audit_event = models.ForeignKey("log.AuditEvent", on_delete=models.PROTECT,
                                    related_name="+")

    class Meta:
        constraints = [
            # No one approves twice, also under concurrency.
            models.UniqueConstraint(fields=["request", "approver"], name="one_decision_each")
        ]

    def __str__(self) -> str:
        return f"{self.decision} on {self.request_id}"


class CustodianResponse(models.Model):
    """A custodian's consent (partial decryptions with DLEQ proofs) or refusal."""

    request = models.ForeignKey(DisclosureRequest, on_delete=models.CASCADE,
                                related_name="custodian_responses")
    custodian = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    custodian_index = models.PositiveSmallIntegerField()
    key_epoch = models.PositiveIntegerField()
    # escrow.crypto.release.PartialDecryption.to_dict(); null for a refusal.
    partial = models.JSONField(null=True, blank=True)
    refusal_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    audit_event = models.ForeignKey("log.AuditEvent", on_delete=models.PROTECT,
                                    related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["request", "custodian_index", "key_epoch"], name="one_response_per_share"
            ),
            models.CheckConstraint(
                condition=Q(partial__isnull=False) | ~Q(refusal_reason=""),
                name="consent_or_reasoned_refusal",
            ),
        ]

    def __str__(self) -> str:
        return f"custodian {self.custodian_index} on {self.request_id}"


class Release(models.Model):
    """The disclosure package, held only until the agency has fetched it once."""

    request = models.OneToOneField(DisclosureRequest, on_delete=models.PROTECT,
                                   related_name="release")
    release_event = models.ForeignKey("log.AuditEvent", on_delete=models.PROTECT,
                                      related_name="+")
    log_index = models.BigIntegerField()
    checkpoint = models.TextField()
    # Encrypted to the agency's registered key, or under a single-use download secret;
    # cleared once delivered so no plaintext identity outlives delivery.
    package_sealed = models.BinaryField(null=True, blank=True)
    package_sha256 = models.BinaryField(max_length=32)
    download_token_hash = models.BinaryField(max_length=32, null=True, blank=True)
    # The single-use download secret, sealed under a service key (escrow.keys), kept only
    # while the package waits so that an approver can reissue it when the mail is lost
    # (legal_requests/services/release/reissue.py); cleared with the package.
    download_secret_sealed = models.BinaryField(null=True, blank=True)
    download_expires_at = models.DateTimeField(null=True, blank=True)
    prepared_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    platforms_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Whatever opens the package goes with it: delivered, lapsed or purged.
            models.CheckConstraint(
                condition=Q(package_sealed__isnull=False) | Q(download_secret_sealed__isnull=True),
                name="download_secret_only_with_package",
            )
        ]

    def __str__(self) -> str:
        return f"release of {self.request_id}"


class OutgoingMail(models.Model):
    """One message to one recipient, kept until it is sent or given up (the mail outbox).

    Written in the transaction that makes the news, sent afterwards by a retried task
    and a beat scan (legal_requests/services/mail.py), so a mail server that is down
    delays a message but never loses it silently: after MAIL_MAX_ATTEMPTS it is
    dead-lettered, which is logged and shown to staff.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        DEAD = "dead"  # given up after MAIL_MAX_ATTEMPTS; an audit event says so
        CANCELLED = "cancelled"  # superseded, e.g. by a reissued download secret

    # The notification kinds (services/notifications.py) and this one.
    DOWNLOAD_SECRET = "download_secret"  # noqa: S105 - a kind of mail, not a secret

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(DisclosureRequest, on_delete=models.CASCADE,
                                related_name="mails")
    kind = models.CharField(max_length=40)
    recipient = SealedTextField()  # an address: sealed, never filtered on
    subject = models.CharField(max_length=200)
    # For a download secret, the body holds a marker where the secret goes at sending.
    body = models.TextField()
    # AES-256-GCM under a service key, bound to this row; dropped once sent or given up.
    secret_sealed = models.BinaryField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # The exception's class name only: a message could carry an address or the secret.
    last_error = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="outgoing_mail_due")]
        constraints = [
            models.CheckConstraint(
                condition=Q(state="pending") | Q(secret_sealed__isnull=True),
                name="mail_secret_only_while_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} mail {self.pk} ({self.state})"
