"""The disclosure request's state machine, and the one way to move it.

    received --start_review--> in_review --approve--> approved --begin_release--> releasing
    releasing --mark_released--> released --close--> closed
    in_review --request_information--> needs_information --answer_information--> in_review
    received | in_review | needs_information --reject--> rejected
    received | in_review | needs_information | approved --withdraw--> withdrawn
    received | in_review | needs_information | approved | releasing --expire--> expired

The transitions are django-fsm methods on DisclosureRequest (through `DisclosureWorkflow`,
so an illegal move raises TransitionNotAllowed and the protected `state` field cannot be
assigned directly). The model also mixes in ConcurrentTransitionMixin: `save()` becomes
`UPDATE ... WHERE id = %s AND state = <state when loaded>` and raises ConcurrentTransition
if another worker moved the row first.

Services never call the methods directly: they call the module-level function of the same
name (`begin_release(request, actor=...)`), which moves the state, saves it (compare-and-swap)
and writes the audit event in the caller's transaction. Call these inside
`transaction.atomic()` on a row loaded with `select_for_update()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django_fsm import ConcurrentTransitionMixin, transition

from escrow.audit import Actor, event_record

if TYPE_CHECKING:
    from escrow.models import AuditEvent
    from legal_requests.models import DisclosureRequest

# Mirrors DisclosureRequest.State (models import this module, so it cannot import them).
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
OPEN_STATES = (RECEIVED, IN_REVIEW, NEEDS_INFORMATION, APPROVED, RELEASING)
UNDECIDED_STATES = (RECEIVED, IN_REVIEW, NEEDS_INFORMATION)
TERMINAL_STATES = (CLOSED, REJECTED, WITHDRAWN, EXPIRED)

# One audit event type per transition: the transparency report is computed from these.
EVENT_TYPES = {
    "start_review": "disclosure.review_started",
    "request_information": "disclosure.information_requested",
    "answer_information": "disclosure.information_provided",
    "approve": "disclosure.approved",
    "reject": "disclosure.rejected",
    "withdraw": "disclosure.withdrawn",
    "expire": "disclosure.expired",
    "begin_release": "disclosure.release_started",
    "mark_released": "disclosure.released",
    "close": "disclosure.closed",
}


class DisclosureWorkflow(ConcurrentTransitionMixin):
    """Transition methods mixed into DisclosureRequest. They only change the state."""

    @transition(field="state", source=RECEIVED, target=IN_REVIEW)
    def start_review(self) -> None:
        pass

    @transition(field="state", source=IN_REVIEW, target=NEEDS_INFORMATION)
    def request_information(self) -> None:
        pass

    @transition(field="state", source=NEEDS_INFORMATION, target=IN_REVIEW)
    def answer_information(self) -> None:
        pass

    @transition(field="state", source=IN_REVIEW, target=APPROVED)
    def approve(self) -> None:
        pass

    @transition(field="state", source=list(UNDECIDED_STATES), target=REJECTED)
    def reject(self) -> None:
        pass

    @transition(field="state", source=[*UNDECIDED_STATES, APPROVED], target=WITHDRAWN)
    def withdraw(self) -> None:
        pass

    @transition(field="state", source=list(OPEN_STATES), target=EXPIRED)
    def expire(self) -> None:
        pass

    @transition(field="state", source=APPROVED, target=RELEASING)
    def begin_release(self) -> None:
        pass

    @transition(field="state", source=RELEASING, target=RELEASED)
    def mark_released(self) -> None:
        pass

    @transition(field="state", source=RELEASED, target=CLOSED)
    def close(self) -> None:
        pass


def request_object_ref(request: DisclosureRequest) -> str:
    return f"disclosure_request:{request.pk}"


def _apply(
    name: str,
    request: DisclosureRequest,
    *,
    actor: Actor,
    details: dict[str, Any] | None = None,
    sealed: dict[str, Any] | None = None,
    update_fields: list[str] | None = None,
) -> AuditEvent:
    """Move `request` by transition `name`, save it (compare-and-swap) and log the move.

    Raises django_fsm.TransitionNotAllowed for a move the graph does not have, and
    django_fsm.ConcurrentTransition if the row's state changed since it was loaded.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("workflow transitions must run inside transaction.atomic()")
    source = request.state
    getattr(request, name)()
    fields = {"state", "updated_at", *(update_fields or [])}
    request.save(update_fields=sorted(fields))
    return event_record(
        event_type=EVENT_TYPES[name],
        actor=actor,
        object_ref=request_object_ref(request),
        details={
            "reference": request.reference,
            "from": source,
            "to": request.state,
            **(details or {}),
        },
        sealed=sealed,
    )


def start_review(
    request: DisclosureRequest,
    *,
    actor: Actor,
    details: dict[str, Any] | None = None,
    sealed: dict[str, Any] | None = None,
    update_fields: list[str] | None = None,
) -> AuditEvent:
    return _apply(
        "start_review",
        request,
        actor=actor,
        details=details,
        sealed=sealed,
        update_fields=update_fields,
    )


def request_information(
    request: DisclosureRequest,
    *,
    actor: Actor,
    details: dict[str, Any] | None = None,
    sealed: dict[str, Any] | None = None,
    update_fields: list[str] | None = None,
) -> AuditEvent:
    return _apply(
        "request_information",
        request,
        actor=actor,
        details=details,
        sealed=sealed,
        update_fields=update_fields,
    )


def answer_information(
    request: DisclosureRequest,
    *,
    actor: Actor,
    details: dict[str, Any] | None = None,
    sealed: dict[str, Any] | None = None,
    update_fields: list[str] | None = None,
) -> AuditEvent:
    return _apply(
        "answer_information",
        request,
        actor=actor,
        details=details,
        sealed=sealed,
        update_fields=update_fields,
    )


def approve(
    request: DisclosureRequest,
    *,
    actor: Actor,
    details: dict[str, Any] | None = None,
    sealed: dict[str, Any] | None = None,
    update_fields: list[str] | None = None,
) -> AuditEvent:
    return _apply(
        "approve", request, actor=actor, details=details, sealed=sealed, update_fields=update_fields
    )


def reject(
    request: DisclosureRequest,
    *,
    actor: Actor,
    details: dict[str, Any] | None = None,
    sealed: dict[str, Any] | None = None,
    update_fields: list[str] | None = None,
) -> AuditEvent:
    return _apply(
        "reject", request, actor=actor, details=details, sealed=sealed, update_fields=update_fields
    )


def withdraw(
    request: DisclosureRequest,
    *,
    actor: Actor,
    details: dict[str, Any] | None = None,
    sealed: dict[str, Any] | None = None,
    update_fields: list[str] | None = None,
) -> AuditEvent:
    return _apply(
        "withdraw",
        request,
        actor=actor,
        details=details,
        sealed=sealed,
        update_fields=update_fields,
    )


def expire(
    request: DisclosureRequest,
    *,
    actor: Actor,
    details: dict[str, Any] | None = None,
    sealed: dict[str, Any] | None = None,
    update_fields: list[str] | None = None,
) -> AuditEvent:
    return _apply(
        "expire", request, actor=actor, details=details, sealed=sealed, update_fields=update_fields
    )


def begin_release(
    request: DisclosureRequest,
    *,
    actor: Actor,
    details: dict[str, Any] | None = None,
    sealed: dict[str, Any] | None = None,
    update_fields: list[str] | None = None,
) -> AuditEvent:
    """approved -> releasing. The caller checks expiry and separation of duties first."""
    return _apply(
        "begin_release",
        request,
        actor=actor,
        details=details,
        sealed=sealed,
        update_fields=update_fields,
    )


def mark_released(
    request: DisclosureRequest,
    *,
    actor: Actor,
    details: dict[str, Any] | None = None,
    sealed: dict[str, Any] | None = None,
    update_fields: list[str] | None = None,
) -> AuditEvent:
    """releasing -> released. Pass the release's non-personal details (e.g. target count)."""
    return _apply(
        "mark_released",
        request,
        actor=actor,
        details=details,
        sealed=sealed,
        update_fields=update_fields,
    )


def close(
    request: DisclosureRequest,
    *,
    actor: Actor,
    details: dict[str, Any] | None = None,
    sealed: dict[str, Any] | None = None,
    update_fields: list[str] | None = None,
) -> AuditEvent:
    """released -> closed (e.g. once the package is delivered)."""
    return _apply(
        "close", request, actor=actor, details=details, sealed=sealed, update_fields=update_fields
    )
