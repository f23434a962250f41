"""Reads of disclosure requests, legal bases and releases. Scoping happens here, once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet

from accounts.models import Agency
from accounts.roles import Role
from escrow.log.models import AuditEvent
from escrow.vault.identity import IDENTITY_FIELDS
from escrow.vault.models import EscrowKey
from legal_requests.models import (
    Approval,
    CustodianResponse,
    DisclosureRequest,
    LegalBasis,
    OutgoingMail,
    Release,
    RequestTarget,
)

# Written by the release service each time an attempt releases nothing.
RELEASE_ABORTED_EVENT = "disclosure.release_aborted"


class DisclosureRequestNotFound(Exception):
    """No such request, or it belongs to another agency (the two are not distinguished)."""


def legal_basis_list(*, agency: Agency | None = None) -> QuerySet[LegalBasis]:
    bases = LegalBasis.objects.select_related("jurisdiction").order_by("code")
    if agency is not None:
        bases = bases.filter(jurisdiction_id=agency.jurisdiction_id, is_enabled=True)
    return bases


def _disclosures() -> QuerySet[DisclosureRequest]:
    return DisclosureRequest.objects.select_related(
        "agency", "agency__jurisdiction", "legal_basis"
    ).prefetch_related("targets", "approvals")


def disclosure_list_for_agency(*, agency: Agency, state: str | None = None
                               ) -> QuerySet[DisclosureRequest]:
    disclosures = _disclosures().filter(agency=agency).order_by("-created_at")
    if state:
        disclosures = disclosures.filter(state=state)
    return disclosures


def disclosure_list_for_staff(*, state: str | None = None) -> QuerySet[DisclosureRequest]:
    disclosures = _disclosures().order_by("-created_at")
    if state:
        disclosures = disclosures.filter(state=state)
    return disclosures


def disclosure_get_for_agency(*, agency: Agency, disclosure_id: UUID) -> DisclosureRequest:
    found = _disclosures().filter(agency=agency, pk=disclosure_id).first()
    if found is None:
        raise DisclosureRequestNotFound("no such disclosure request")
    return found


def disclosure_get_for_staff(*, disclosure_id: UUID) -> DisclosureRequest:
    found = _disclosures().filter(pk=disclosure_id).first()
    if found is None:
        raise DisclosureRequestNotFound("no such disclosure request")
    return found


def disclosure_approval_count(
    *, disclosure: DisclosureRequest, stage: str = Approval.Stage.DECISION
) -> int:
    """Approvals at `stage`; uses the prefetched approvals of a listed request."""
    return sum(
        1
        for a in disclosure.approvals.all()
        if a.stage == stage and a.decision == Approval.Decision.APPROVE
    )


def disclosure_approver_ids(disclosure: DisclosureRequest) -> set[int]:
    """Everyone who decided on the request, at any stage (approve or reject).

    Separation of duties: none of them may serve as one of the request's custodians, so
    that a person holding both roles is counted once overall. The release service refuses
    a custodian response from any of these ids; the review service refuses an approval
    from anyone who already responded as a custodian.
    """
    return set(
        Approval.objects.filter(request=disclosure).values_list("approver_id", flat=True)
    )


def disclosure_intake_staff_ids(disclosure: DisclosureRequest) -> set[int]:
    """Who entered, reviewed or call-back-verified the request: none of them may decide it."""
    return {
        uid
        for uid in (
            disclosure.entered_by_id, disclosure.reviewed_by_id, disclosure.callback_verified_by_id
        )
        if uid is not None
    }


def disclosure_involved_staff_ids(disclosure: DisclosureRequest) -> set[int]:
    """Everyone who entered, reviewed, verified or decided the request."""
    return disclosure_approver_ids(disclosure) | disclosure_intake_staff_ids(disclosure)


def disclosure_release_fields(disclosure: DisclosureRequest) -> list[str]:
    """The approved fields, in the vocabulary's fixed order, never beyond the legal basis."""
    allowed = set(disclosure.legal_basis.releasable_fields)
    return [f for f in IDENTITY_FIELDS if f in disclosure.requested_fields and f in allowed]


def disclosure_target_list(disclosure: DisclosureRequest) -> list[RequestTarget]:
    """The named pseudonyms with their enrolments and platforms, in pseudonym order."""
    return list(
        disclosure.targets.select_related("enrolment", "enrolment__platform").order_by(
            "pseudonym"
        )
    )


def disclosure_release_epochs(disclosure: DisclosureRequest) -> list[int]:
    """The escrow key epochs whose custodians must answer: those of the targets that hold
    at least one approved field (erased records and fields never supplied need no one)."""
    fields = set(disclosure_release_fields(disclosure))
    epochs = {
        epoch
        for epoch, sealed in disclosure.targets.values_list(
            "enrolment__key_epoch", "enrolment__sealed_fields"
        )
        if sealed and fields & set(sealed)
    }
    return sorted(epochs)


def staff_with_role(role: Role) -> QuerySet[User]:
    return User.objects.filter(groups__name=str(role), is_active=True).distinct().order_by("pk")


# --- releases -----------------------------------------------------------------------------


def custodian_partials_valid(
    *, disclosure: DisclosureRequest, epoch: int
) -> QuerySet[CustodianResponse]:
    """The consents (not refusals) given under key `epoch`, in share-index order."""
    return CustodianResponse.objects.filter(
        request=disclosure, key_epoch=epoch, partial__isnull=False
    ).order_by("custodian_index")


@dataclass(frozen=True)
class EpochProgress:
    """How far one escrow key epoch's custodians are with a release."""

    epoch: int
    threshold: int
    partials_in: int
    refusals: int

    @property
    def complete(self) -> bool:
        return self.partials_in >= self.threshold


def release_progress_totals(progress: list[EpochProgress]) -> tuple[int, int]:
    """(partials in, partials needed) over all epochs, each epoch counted up to its own
    threshold: the two are equal exactly when every epoch is complete."""
    return (sum(min(p.partials_in, p.threshold) for p in progress),
            sum(p.threshold for p in progress))


def release_epoch_progress(
    *, disclosure: DisclosureRequest, epochs: list[int] | None = None
) -> list[EpochProgress]:
    """Each epoch's answers so far, in epoch order: by default the epochs the request
    needs and any that answered already (a target erased after its release still shows)."""
    answered = CustodianResponse.objects.filter(request=disclosure)
    if epochs is None:
        epochs = sorted(
            set(disclosure_release_epochs(disclosure))
            | set(answered.values_list("key_epoch", flat=True))
        )
    counts = {
        row["key_epoch"]: row
        for row in answered.filter(key_epoch__in=epochs).values("key_epoch").annotate(
            partials=Count("pk", filter=Q(partial__isnull=False)),
            refusals=Count("pk", filter=Q(partial__isnull=True)),
        )
    }
    thresholds = dict(
        EscrowKey.objects.filter(epoch__in=epochs).values_list("epoch", "threshold")
    )
    return [
        EpochProgress(
            epoch=epoch, threshold=thresholds[epoch],
            partials_in=counts.get(epoch, {}).get("partials", 0),
            refusals=counts.get(epoch, {}).get("refusals", 0),
        )
        for epoch in epochs
        if epoch in thresholds
    ]


@dataclass(frozen=True)
class ReleaseAbort:
    reason: str | None
    occurred_at: datetime


def release_last_abort(*, disclosure: DisclosureRequest) -> ReleaseAbort | None:
    """The latest attempt that released nothing, and why (a code, never personal data)."""
    last = (
        AuditEvent.objects.filter(
            event_type=RELEASE_ABORTED_EVENT, object_ref=disclosure.object_ref
        )
        .order_by("-occurred_at")
        .values_list("occurred_at", "entry")
        .first()
    )
    if last is None:
        return None
    occurred_at, entry = last
    return ReleaseAbort(
        reason=json.loads(bytes(entry))["details"].get("reason"), occurred_at=occurred_at
    )


@dataclass(frozen=True)
class ReleaseStatus:
    request_id: str
    reference: str
    state: str
    # Summed over the epochs the request needs; partials beyond an epoch's own threshold
    # do not count, so partials_in == threshold exactly when every epoch is complete.
    threshold: int | None
    partials_in: int
    refusals: int
    last_abort_reason: str | None
    last_abort_at: datetime | None
    release_log_index: int | None
    prepared_at: datetime | None
    delivered_at: datetime | None
    download_expires_at: datetime | None
    platforms_notified_at: datetime | None
    # The latest download-secret mail, for a package sealed under a secret: pending,
    # sent, dead (given up: an approver can reissue) or cancelled; and its attempts.
    download_secret_mail: dict[str, Any] | None = None
    epochs: tuple[EpochProgress, ...] = ()


def _download_secret_mail(disclosure: DisclosureRequest) -> dict[str, Any] | None:
    mail = (
        OutgoingMail.objects.filter(request=disclosure, kind=OutgoingMail.DOWNLOAD_SECRET)
        .order_by("-created_at").first()
    )
    if mail is None:
        return None
    return {"state": mail.state, "attempts": mail.attempts, "last_error": mail.last_error,
            "next_attempt_at": mail.next_attempt_at if mail.state == "pending" else None}


def release_status_get(*, disclosure: DisclosureRequest) -> ReleaseStatus:
    """No personal data: counts, states, times and the reason of the last failed attempt."""
    epochs = release_epoch_progress(disclosure=disclosure)
    accepted, needed = release_progress_totals(epochs)
    abort = release_last_abort(disclosure=disclosure)
    release = Release.objects.filter(request=disclosure).first()
    return ReleaseStatus(
        request_id=str(disclosure.pk),
        reference=disclosure.reference,
        state=disclosure.state,
        threshold=needed if epochs else None,
        partials_in=accepted,
        refusals=sum(e.refusals for e in epochs),
        last_abort_reason=abort.reason if abort else None,
        last_abort_at=abort.occurred_at if abort else None,
        release_log_index=release.log_index if release else None,
        prepared_at=release.prepared_at if release else None,
        delivered_at=release.delivered_at if release else None,
        download_expires_at=release.download_expires_at if release else None,
        platforms_notified_at=release.platforms_notified_at if release else None,
        download_secret_mail=_download_secret_mail(disclosure),
        epochs=tuple(epochs),
    )
