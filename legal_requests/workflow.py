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

from typing import TYPE_CHECKING, Any, Protocol

from django.db import transaction
from django_fsm import ConcurrentTransitionMixin, transition

from escrow.log.events import Actor, event_record

if TYPE_CHECKING:
    from escrow.log.models import AuditEvent
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


class Transition(Protocol):
    def __call__(
        self,
        request: DisclosureRequest,
        *,
        actor: Actor,
        details: dict[str, Any] | None = None,
        sealed: dict[str, Any] | None = None,
        update_fields: list[str] | None = None,
    ) -> AuditEvent: ...


def _transition(name: str, doc: str) -> Transition:
    """A module-level function for one transition: `workflow.approve(request, actor=...)`."""

    def move(
        request: DisclosureRequest,
        *,
        actor: Actor,
        details: dict[str, Any] | None = None,
        sealed: dict[str, Any] | None = None,
        update_fields: list[str] | None = None,
    ) -> AuditEvent:
        return _apply(
            name, request, actor=actor, details=details, sealed=sealed, update_fields=update_fields
        )

    move.__name__ = move.__qualname__ = name
    move.__doc__ = doc
    return move


start_review = _transition("start_review", "received -> in_review.")
request_information = _transition("request_information", "in_review -> needs_information.")
answer_information = _transition("answer_information", "needs_information -> in_review.")
approve = _transition("approve", "in_review -> approved, by the approval completing the count.")
reject = _transition("reject", "received, in_review or needs_information -> rejected.")
withdraw = _transition("withdraw", "an open state or approved -> withdrawn, by the agency.")
expire = _transition("expire", "any open state, releasing included -> expired.")
begin_release = _transition(
    "begin_release",
    "approved -> releasing. The caller checks expiry and separation of duties first.",
)
mark_released = _transition(
    "mark_released",
    "releasing -> released. Pass the release's non-personal details (e.g. target count).",
)
close = _transition("close", "released -> closed, once nothing about the release is still owed.")
