"""Review and decision: staff move a request through review, approval or rejection.

Separation of duties (see docs/disclosure-workflow.md):
- whoever entered, reviewed or call-back-verified a request cannot decide it;
- approvals come from distinct approvers (also a database constraint), as many as the
  legal basis requires;
- a person serves a request in one capacity only: an approver of a request may not be
  one of its custodians (the release service refuses custodian responses from
  `disclosure_approver_ids`), and a custodian who responded may not approve or review it;
- an administrator (or a Django superuser) decides nothing, whatever groups the account
  is in: one who can reset accounts could otherwise approve twice (docs/threat-model.md).

Every service takes the request's row lock first, re-checks state and expiry on the
locked row, and writes its audit event in the same transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Agency
from accounts.roles import Role
from accounts.selectors import user_has_role, user_is_administrator
from escrow.crypto.sealing import blob_unseal
from escrow.keys import service_key
from escrow.log.events import Actor, event_record
from legal_requests.models import Approval, CustodianResponse, DisclosureRequest
from legal_requests.selectors import disclosure_approver_ids, disclosure_intake_staff_ids
from legal_requests.services import notifications, workflow
from legal_requests.services.intake import DOCUMENT_KEY_PURPOSE, document_associated_data

T = TypeVar("T")

RETROSPECTIVE_REVIEWS_REQUIRED = 2


class RequestStateConflict(Exception):
    """The request is not in a state that allows this."""


class RequestExpired(Exception):
    """The legal document has expired: the request can no longer be approved or released.

    Also raised by the release (legal_requests/services/release/preconditions.py).
    """


class RoleRequired(Exception):
    """The staff member does not hold the role this action needs."""


class ReviewSeparationOfDuties(Exception):
    """This person may not review, verify or decide this request (see the module's rules)."""


class AlreadyDecided(Exception):
    """This approver has already recorded a decision on this request."""


class CallbackVerificationRequired(Exception):
    """An emergency request needs a recorded call-back verification first."""


class NotAnEmergency(Exception):
    """Only emergency requests have call-back verification and retrospective review."""


def _staff_actor(user: User, role: Role) -> Actor:
    return Actor.for_staff(user.pk, str(role))


def _require_role(user: User, *roles: Role) -> Role:
    for role in roles:
        if user_has_role(user, role):
            return role
    raise RoleRequired(f"this action needs the role {' or '.join(str(r) for r in roles)}")


def _locked(disclosure: DisclosureRequest) -> DisclosureRequest:
    return (
        DisclosureRequest.objects.select_for_update(of=("self",))
        .select_related("legal_basis", "agency")
        .get(pk=disclosure.pk)
    )


def _expiring(action: Callable[[], T], disclosure: DisclosureRequest) -> T:
    """Run `action`; if it found the request expired, move it to expired, then re-raise.

    The move happens in its own transaction after the action's has rolled back, so the
    refusal and the expiry are both durable.
    """
    try:
        return action()
    except RequestExpired:
        disclosure_expire(disclosure_id=disclosure.pk)
        raise


def _check_not_expired(disclosure: DisclosureRequest, now: datetime) -> None:
    if disclosure.expires_at <= now:
        raise RequestExpired("the legal document expired; the request can no longer proceed")


def _check_state(disclosure: DisclosureRequest, *states: str) -> None:
    if disclosure.state not in states:
        raise RequestStateConflict(
            f"the request is {disclosure.state}; this needs {' or '.join(states)}"
        )


def _details(disclosure: DisclosureRequest, **extra: Any) -> dict[str, Any]:
    return {"reference": disclosure.reference, **extra}


def disclosure_review_start(
    *, disclosure: DisclosureRequest, reviewer: User
) -> DisclosureRequest:
    """received -> in_review. The reviewer may not later decide the request."""
    role = _require_role(reviewer, Role.INTAKE_OFFICER, Role.APPROVER)

    def act() -> DisclosureRequest:
        with transaction.atomic():
            locked = _locked(disclosure)
            _check_state(locked, DisclosureRequest.State.RECEIVED)
            _check_not_expired(locked, timezone.now())
            locked.reviewed_by = reviewer
            workflow.start_review(locked, actor=_staff_actor(reviewer, role),
                                  update_fields=["reviewed_by"])
            notifications.notify_on_commit(notifications.APPROVAL_PENDING, locked)
            return locked

    return _expiring(act, disclosure)


def disclosure_information_ask(
    *, disclosure: DisclosureRequest, staff: User, question: str
) -> DisclosureRequest:
    """in_review -> needs_information, with the question for the agency."""
    role = _require_role(staff, Role.INTAKE_OFFICER, Role.APPROVER)

    def act() -> DisclosureRequest:
        with transaction.atomic():
            locked = _locked(disclosure)
            _check_state(locked, DisclosureRequest.State.IN_REVIEW)
            _check_not_expired(locked, timezone.now())
            locked.information_request = question
            locked.information_response = ""
            workflow.request_information(
                locked,
                actor=_staff_actor(staff, role),
                sealed={"question": question},
                update_fields=["information_request", "information_response"],
            )
            notifications.notify_on_commit(notifications.INFORMATION_REQUESTED, locked)
            return locked

    return _expiring(act, disclosure)


def disclosure_information_answer(
    *, disclosure: DisclosureRequest, agency: Agency, answer: str
) -> DisclosureRequest:
    """needs_information -> in_review, by the agency that filed the request."""
    if disclosure.agency_id != agency.pk:
        raise RequestStateConflict("the request belongs to another agency")
    return _information_answered(disclosure, answer=answer, actor=Actor.for_agency(agency.pk))


# How an answer given outside the API reached the escrow (logged in the clear: no content).
ANSWER_CHANNELS = ("paper", "email")


def disclosure_information_answer_enter(
    *, disclosure: DisclosureRequest, staff: User, answer: str, channel: str
) -> DisclosureRequest:
    """needs_information -> in_review: the agency answered on paper or by email, and an
    intake officer enters the answer on its behalf (logged as theirs, with the channel)."""
    role = _require_role(staff, Role.INTAKE_OFFICER)
    if channel not in ANSWER_CHANNELS:
        raise ValueError(f"unknown answer channel {channel!r}")
    return _information_answered(disclosure, answer=answer, actor=_staff_actor(staff, role),
                                 channel=channel)


def _information_answered(disclosure: DisclosureRequest, *, answer: str, actor: Actor,
                          channel: str = "") -> DisclosureRequest:
    def act() -> DisclosureRequest:
        with transaction.atomic():
            locked = _locked(disclosure)
            _check_state(locked, DisclosureRequest.State.NEEDS_INFORMATION)
            _check_not_expired(locked, timezone.now())
            locked.information_response = answer
            workflow.answer_information(
                locked,
                actor=actor,
                details={"channel": channel} if channel else None,
                sealed={"answer": answer},
                update_fields=["information_response"],
            )
            notifications.notify_on_commit(notifications.APPROVAL_PENDING, locked)
            return locked

    return _expiring(act, disclosure)


def disclosure_withdraw(
    *, disclosure: DisclosureRequest, agency: Agency, reason: str = ""
) -> DisclosureRequest:
    with transaction.atomic():
        locked = _locked(disclosure)
        if locked.agency_id != agency.pk:
            raise RequestStateConflict("the request belongs to another agency")
        _check_state(
            locked, *DisclosureRequest.UNDECIDED_STATES, DisclosureRequest.State.APPROVED
        )
        locked.outcome_reason = reason
        workflow.withdraw(
            locked,
            actor=Actor.for_agency(agency.pk),
            sealed={"reason": reason} if reason else None,
            update_fields=["outcome_reason"],
        )
        return locked


def disclosure_callback_verify(
    *, disclosure: DisclosureRequest, staff: User, method: str, notes: str = ""
) -> DisclosureRequest:
    """Record that `staff` called the agency back on the contact details on file.

    The contact used is the agency's `callback_phone` or `callback_email`, never one the
    request supplied: a forged emergency request carries the forger's number.
    """
    role = _require_role(staff, Role.INTAKE_OFFICER, Role.APPROVER)
    if method not in ("phone", "email"):
        raise ValueError("method must be phone or email")
    with transaction.atomic():
        locked = _locked(disclosure)
        if not locked.is_emergency:
            raise NotAnEmergency("only emergency requests need call-back verification")
        _check_state(locked, *DisclosureRequest.UNDECIDED_STATES)
        if locked.callback_verified_at is not None:
            raise RequestStateConflict("the call-back verification is already recorded")
        if staff.pk in disclosure_approver_ids(locked):
            raise ReviewSeparationOfDuties("an approver of this request cannot also verify it")
        now = timezone.now()
        agency = locked.agency
        contact = agency.callback_phone if method == "phone" else agency.callback_email
        DisclosureRequest.objects.filter(pk=locked.pk).update(
            callback_verified_at=now, callback_verified_by=staff, updated_at=now
        )
        event_record(
            event_type="disclosure.callback_verified",
            actor=_staff_actor(staff, role),
            object_ref=locked.object_ref,
            occurred_at=now,
            details=_details(locked, method=method),
            sealed={"contact_on_file": contact, "notes": notes},
        )
    locked.refresh_from_db()
    return locked


def _check_may_decide(disclosure: DisclosureRequest, approver: User) -> None:
    if user_is_administrator(approver):
        raise ReviewSeparationOfDuties(
            "an administrator cannot decide requests: administering accounts and approving "
            "are kept apart"
        )
    if approver.pk in disclosure_intake_staff_ids(disclosure):
        raise ReviewSeparationOfDuties(
            "whoever entered, reviewed or call-back-verified a request cannot decide it"
        )
    if Approval.objects.filter(request=disclosure, approver=approver).exists():
        raise AlreadyDecided("you have already recorded a decision on this request")
    if CustodianResponse.objects.filter(request=disclosure, custodian=approver).exists():
        raise ReviewSeparationOfDuties("a custodian of this request cannot also decide it")


def _targets_digest(disclosure: DisclosureRequest) -> str:
    # Enrolment ids are random UUIDs, so this digest hides them while letting a custodian
    # holding the list confirm it is the approved one.
    ids = sorted(str(e) for e in disclosure.targets.values_list("enrolment_id", flat=True))
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def _approval_insert(
    *, disclosure: DisclosureRequest, approver: User, decision: str, stage: str, reason: str,
    event_details: dict[str, Any],
) -> Approval:
    event = event_record(
        event_type="disclosure.decision_recorded",
        actor=_staff_actor(approver, Role.APPROVER),
        object_ref=disclosure.object_ref,
        details=_details(disclosure, decision=decision, stage=stage, **event_details),
        sealed={"reason": reason},
    )
    try:
        with transaction.atomic():
            return Approval.objects.create(
                request=disclosure, approver=approver, decision=decision, stage=stage,
                reason=reason, audit_event=event,
            )
    except IntegrityError:
        raise AlreadyDecided("you have already recorded a decision on this request") from None


def disclosure_approve(*, disclosure: DisclosureRequest, approver: User, reason: str) -> Approval:
    """Record one approval; the one that completes the count moves the request to approved.

    The completing approval writes `disclosure.approved`, the event custodians check in a
    signed checkpoint before they consent, and queues notices to the custodians.
    """
    _require_role(approver, Role.APPROVER)

    def act() -> Approval:
        with transaction.atomic():
            locked = _locked(disclosure)
            _check_state(locked, DisclosureRequest.State.IN_REVIEW)
            now = timezone.now()
            _check_not_expired(locked, now)
            _check_may_decide(locked, approver)
            if locked.is_emergency and locked.callback_verified_at is None:
                raise CallbackVerificationRequired(
                    "record the call-back verification of the requester first"
                )
            basis = locked.legal_basis
            given = (
                Approval.objects.filter(
                    request=locked, stage=Approval.Stage.DECISION,
                    decision=Approval.Decision.APPROVE,
                ).count()
                + 1
            )
            approval = _approval_insert(
                disclosure=locked, approver=approver, decision=Approval.Decision.APPROVE,
                stage=Approval.Stage.DECISION, reason=reason,
                event_details={"approvals": given, "approvals_required": basis.approvals_required},
            )
            if given >= basis.approvals_required:
                _approved(locked, approver=approver, now=now)
            return approval

    return _expiring(act, disclosure)


def _approved(disclosure: DisclosureRequest, *, approver: User, now: datetime) -> None:
    basis = disclosure.legal_basis
    approvers = sorted(
        Approval.objects.filter(
            request=disclosure, stage=Approval.Stage.DECISION, decision=Approval.Decision.APPROVE
        ).values_list("approver_id", flat=True)
    )
    targets = list(disclosure.targets.order_by("pk").values_list("pseudonym", "enrolment_id"))
    if disclosure.is_emergency:
        disclosure.review_due_at = now + timedelta(
            hours=settings.DISCLOSURE_EMERGENCY_REVIEW_HOURS
        )
    event = workflow.approve(
        disclosure,
        actor=_staff_actor(approver, Role.APPROVER),
        details={
            "legal_basis": basis.code,
            "jurisdiction": basis.jurisdiction_id,
            "emergency": disclosure.is_emergency,
            "fields": list(disclosure.requested_fields),
            "target_count": len(targets),
            "targets_sha256": _targets_digest(disclosure),
            "approvers": [str(a) for a in approvers],
            "approvals_required": basis.approvals_required,
            "expires_at": disclosure.expires_at.isoformat(),
            "document_sha256": bytes(disclosure.document_sha256).hex(),
        },
        sealed={
            "pseudonyms": [p for p, _ in targets],
            "enrolments": [str(e) for _, e in targets],
        },
        update_fields=["review_due_at"],
    )
    disclosure.approval_event = event
    DisclosureRequest.objects.filter(pk=disclosure.pk).update(approval_event=event)
    notifications.notify_on_commit(notifications.CUSTODIANS_PENDING, disclosure)
    if disclosure.is_emergency:
        notifications.notify_on_commit(notifications.RETROSPECTIVE_REVIEW_DUE, disclosure)


def disclosure_reject(*, disclosure: DisclosureRequest, approver: User, reason: str) -> Approval:
    """One approver's rejection ends the request."""
    _require_role(approver, Role.APPROVER)
    with transaction.atomic():
        locked = _locked(disclosure)
        _check_state(locked, *DisclosureRequest.UNDECIDED_STATES)
        _check_may_decide(locked, approver)
        approval = _approval_insert(
            disclosure=locked, approver=approver, decision=Approval.Decision.REJECT,
            stage=Approval.Stage.DECISION, reason=reason, event_details={},
        )
        locked.outcome_reason = reason
        workflow.reject(
            locked,
            actor=_staff_actor(approver, Role.APPROVER),
            details={"legal_basis": locked.legal_basis_id,
                     "jurisdiction": locked.agency.jurisdiction_id},
            update_fields=["outcome_reason"],
        )
        return approval


def disclosure_retrospective_review(
    *, disclosure: DisclosureRequest, approver: User, upheld: bool, reason: str
) -> Approval:
    """A retrospective review of an emergency approval by an approver not yet involved."""
    _require_role(approver, Role.APPROVER)
    with transaction.atomic():
        locked = _locked(disclosure)
        if not locked.is_emergency:
            raise NotAnEmergency("only emergency requests have a retrospective review")
        if locked.approval_event_id is None:
            raise RequestStateConflict("the emergency request has not been approved")
        _check_may_decide(locked, approver)
        done = Approval.objects.filter(
            request=locked, stage=Approval.Stage.RETROSPECTIVE
        ).count()
        if done >= RETROSPECTIVE_REVIEWS_REQUIRED:
            raise RequestStateConflict("the retrospective review is already complete")
        decision = Approval.Decision.APPROVE if upheld else Approval.Decision.REJECT
        approval = _approval_insert(
            disclosure=locked, approver=approver, decision=decision,
            stage=Approval.Stage.RETROSPECTIVE, reason=reason,
            event_details={"reviews": done + 1,
                           "reviews_required": RETROSPECTIVE_REVIEWS_REQUIRED},
        )
        if done + 1 == RETROSPECTIVE_REVIEWS_REQUIRED:
            reviews = Approval.objects.filter(request=locked, stage=Approval.Stage.RETROSPECTIVE)
            now = timezone.now()
            event_record(
                event_type="disclosure.retrospective_review_completed",
                actor=_staff_actor(approver, Role.APPROVER),
                object_ref=locked.object_ref,
                occurred_at=now,
                details=_details(
                    locked,
                    upheld=all(r.decision == Approval.Decision.APPROVE for r in reviews),
                    late=bool(locked.review_due_at and now > locked.review_due_at),
                    jurisdiction=locked.agency.jurisdiction_id,
                    legal_basis=locked.legal_basis_id,
                ),
            )
        return approval


def disclosure_document_open(
    *, disclosure: DisclosureRequest, staff: User
) -> tuple[str, str, bytes]:
    """The legal document, decrypted for a staff member; each reading is logged."""
    role = _require_role(staff, Role.INTAKE_OFFICER, Role.APPROVER, Role.AUDITOR)
    content = blob_unseal(
        key=service_key(DOCUMENT_KEY_PURPOSE),
        sealed=bytes(disclosure.document_sealed),
        associated_data=document_associated_data(disclosure.pk),
    )
    with transaction.atomic():
        event_record(
            event_type="disclosure.document_read",
            actor=_staff_actor(staff, role),
            object_ref=disclosure.object_ref,
            details=_details(disclosure),
        )
    return disclosure.document_name, disclosure.document_content_type, content


def disclosure_expire(*, disclosure_id: UUID, now: datetime | None = None) -> bool:
    """Move one request to expired if its document has lapsed; False if nothing to do."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = (
            DisclosureRequest.objects.select_for_update()
            .filter(pk=disclosure_id, state__in=DisclosureRequest.OPEN_STATES, expires_at__lte=now)
            .first()
        )
        if locked is None:
            return False
        workflow.expire(locked, actor=Actor.system("expiry"),
                        details={"legal_basis": locked.legal_basis_id})
        return True


def disclosures_expire_due(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    due = DisclosureRequest.objects.filter(
        state__in=DisclosureRequest.OPEN_STATES, expires_at__lte=now
    ).values_list("pk", flat=True)
    return sum(disclosure_expire(disclosure_id=pk, now=now) for pk in list(due))


def _review_overdue(now: datetime) -> Any:
    return DisclosureRequest.objects.filter(
        is_emergency=True,
        review_due_at__lte=now,
        review_escalated_at__isnull=True,
    )


def emergency_review_escalate(*, disclosure_id: UUID, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    with transaction.atomic():
        locked = _review_overdue(now).select_for_update().filter(pk=disclosure_id).first()
        if locked is None:
            return False
        done = Approval.objects.filter(request=locked, stage=Approval.Stage.RETROSPECTIVE).count()
        if done >= RETROSPECTIVE_REVIEWS_REQUIRED:
            return False
        DisclosureRequest.objects.filter(pk=locked.pk).update(
            review_escalated_at=now, updated_at=now
        )
        event_record(
            event_type="disclosure.retrospective_review_escalated",
            actor=Actor.system("deadlines"),
            object_ref=locked.object_ref,
            occurred_at=now,
            details=_details(
                locked,
                reviews=done,
                reviews_required=RETROSPECTIVE_REVIEWS_REQUIRED,
                due_at=locked.review_due_at.isoformat() if locked.review_due_at else None,
                jurisdiction=locked.agency.jurisdiction_id,
            ),
        )
        notifications.notify_on_commit(notifications.REVIEW_ESCALATED, locked)
        return True


def emergency_reviews_escalate(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    due = list(_review_overdue(now).values_list("pk", flat=True))
    return sum(emergency_review_escalate(disclosure_id=pk, now=now) for pk in due)
