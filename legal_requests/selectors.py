"""Reads of disclosure requests and legal bases. Scoping happens here, once."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.models import User
from django.db.models import QuerySet

from accounts.models import Agency
from accounts.roles import Role
from legal_requests.models import Approval, DisclosureRequest, LegalBasis


class DisclosureRequestNotFound(Exception):
    """No such request, or it belongs to another agency (the two are not distinguished)."""


def legal_basis_list(*, agency: Agency | None = None) -> QuerySet[LegalBasis]:
    bases = LegalBasis.objects.select_related("jurisdiction").order_by("code")
    if agency is not None:
        bases = bases.filter(jurisdiction_id=agency.jurisdiction_id, is_enabled=True)
    return bases


def _requests() -> QuerySet[DisclosureRequest]:
    return DisclosureRequest.objects.select_related(
        "agency", "agency__jurisdiction", "legal_basis"
    ).prefetch_related("targets", "approvals")


def request_list_for_agency(*, agency: Agency) -> QuerySet[DisclosureRequest]:
    return _requests().filter(agency=agency).order_by("-created_at")


def request_list_for_staff(*, state: str | None = None) -> QuerySet[DisclosureRequest]:
    requests = _requests().order_by("-created_at")
    if state:
        requests = requests.filter(state=state)
    return requests


def request_get_for_agency(*, agency: Agency, request_id: UUID) -> DisclosureRequest:
    found = _requests().filter(agency=agency, pk=request_id).first()
    if found is None:
        raise DisclosureRequestNotFound("no such disclosure request")
    return found


def request_get_for_staff(*, request_id: UUID) -> DisclosureRequest:
    found = _requests().filter(pk=request_id).first()
    if found is None:
        raise DisclosureRequestNotFound("no such disclosure request")
    return found


def request_approval_count(*, request: DisclosureRequest, stage: str = Approval.Stage.DECISION
                           ) -> int:
    """Approvals at `stage`; uses the prefetched approvals of a listed request."""
    return sum(
        1
        for a in request.approvals.all()
        if a.stage == stage and a.decision == Approval.Decision.APPROVE
    )


def request_approver_ids(request: DisclosureRequest) -> set[int]:
    """Everyone who decided on the request, at any stage (approve or reject).

    Separation of duties: none of them may serve as one of the request's custodians, so
    that a person holding both roles is counted once overall. The release service refuses
    a custodian response from any of these ids; the review service refuses an approval
    from anyone who already responded as a custodian.
    """
    return set(Approval.objects.filter(request=request).values_list("approver_id", flat=True))


def request_intake_staff_ids(request: DisclosureRequest) -> set[int]:
    """Who entered, reviewed or call-back-verified the request: none of them may decide it."""
    return {
        uid
        for uid in (request.entered_by_id, request.reviewed_by_id, request.callback_verified_by_id)
        if uid is not None
    }


def staff_with_role(role: Role) -> QuerySet[User]:
    return User.objects.filter(groups__name=str(role), is_active=True).distinct().order_by("pk")
