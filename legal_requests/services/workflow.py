"""The one way to move a disclosure request: change its state, save it and log the move.

The graph is DisclosureRequest's django-fsm transitions (legal_requests/models.py). Services
never call those methods directly: they call the function of the same name here
(`workflow.begin_release(disclosure, actor=...)`), which moves the state, saves the row
(compare-and-swap) and writes the audit event in the caller's transaction. Call these
inside `transaction.atomic()` on a row loaded with `select_for_update()`.
"""

from __future__ import annotations

from typing import Any, Protocol

from django.db import transaction

from escrow.log.events import Actor, event_record
from escrow.log.models import AuditEvent
from legal_requests.models import DisclosureRequest

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


def _apply(
    name: str,
    disclosure: DisclosureRequest,
    *,
    actor: Actor,
    details: dict[str, Any] | None = None,
    sealed: dict[str, Any] | None = None,
    update_fields: list[str] | None = None,
) -> AuditEvent:
    """Move `disclosure` by transition `name`, save it (compare-and-swap) and log the move.

    Raises django_fsm.TransitionNotAllowed for a move the graph does not have, and
    django_fsm.ConcurrentTransition if the row's state changed since it was loaded.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("workflow transitions must run inside transaction.atomic()")
    source = disclosure.state
    getattr(disclosure, name)()
    fields = {"state", "updated_at", *(update_fields or [])}
    disclosure.save(update_fields=sorted(fields))
    return event_record(
        event_type=EVENT_TYPES[name],
        actor=actor,
        object_ref=disclosure.object_ref,
        details={
            "reference": disclosure.reference,
            "from": source,
            "to": disclosure.state,
            **(details or {}),
        },
        sealed=sealed,
    )


class Transition(Protocol):
    def __call__(
        self,
        disclosure: DisclosureRequest,
        *,
        actor: Actor,
        details: dict[str, Any] | None = None,
        sealed: dict[str, Any] | None = None,
        update_fields: list[str] | None = None,
    ) -> AuditEvent: ...


def _transition(name: str, doc: str) -> Transition:
    """A module-level function for one transition: `workflow.approve(disclosure, actor=...)`."""

    def move(
        disclosure: DisclosureRequest,
        *,
        actor: Actor,
        details: dict[str, Any] | None = None,
        sealed: dict[str, Any] | None = None,
        update_fields: list[str] | None = None,
    ) -> AuditEvent:
        return _apply(
            name, disclosure, actor=actor, details=details, sealed=sealed,
            update_fields=update_fields,
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
