"""Approvals racing on PostgreSQL: row locks and constraints give exactly the right count."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections, transaction

from escrow.log.events import Actor
from legal_requests.models import Approval, DisclosureRequest
from legal_requests.services import review, workflow
from tests import factories

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row-lock concurrency needs PostgreSQL")


def _race(calls: list[Any]) -> list[object]:
    """Run each call in its own thread and connection, released at the same moment."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(index: int, call: Any) -> None:
        try:
            barrier.wait()
            outcomes[index] = call()
        except Exception as exc:  # the outcome under test
            outcomes[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.fixture
def in_review(cast: Any, met: Any, targets: list[Any]) -> DisclosureRequest:
    request = factories.disclosure_request(agency=met.agency, targets=[targets[0]])
    review.disclosure_review_start(disclosure=request, reviewer=cast.user("alice"))
    return DisclosureRequest.objects.get(pk=request.pk)


def test_two_approvers_at_once_approve_exactly_once(cast: Any, in_review: DisclosureRequest
                                                    ) -> None:
    bob, carol = cast.user("bob"), cast.user("carol")
    outcomes = _race([
        lambda: review.disclosure_approve(disclosure=in_review, approver=bob, reason="yes"),
        lambda: review.disclosure_approve(disclosure=in_review, approver=carol, reason="yes"),
    ])
    assert all(isinstance(o, Approval) for o in outcomes), outcomes
    stored = DisclosureRequest.objects.get(pk=in_review.pk)
    assert stored.state == "approved"
    assert Approval.objects.filter(request=stored).count() == 2
    from escrow.log.models import AuditEvent

    approved = AuditEvent.objects.filter(event_type="disclosure.approved",
                                         object_ref=f"disclosure_request:{stored.pk}")
    assert approved.count() == 1
    assert stored.approval_event_id == approved.get().pk


def test_three_approvers_racing_for_two_places(cast: Any, in_review: DisclosureRequest) -> None:
    approvers = [cast.user(n) for n in ("bob", "carol", "erin")]
    outcomes = _race([
        (lambda a=a: review.disclosure_approve(disclosure=in_review, approver=a, reason="yes"))
        for a in approvers
    ])
    assert sum(isinstance(o, Approval) for o in outcomes) == 2
    assert sum(isinstance(o, review.RequestStateConflict) for o in outcomes) == 1
    assert Approval.objects.filter(request=in_review).count() == 2
    assert DisclosureRequest.objects.get(pk=in_review.pk).state == "approved"


def test_one_approver_twice_at_once_counts_once(cast: Any, in_review: DisclosureRequest) -> None:
    bob = cast.user("bob")
    outcomes = _race([
        lambda: review.disclosure_approve(disclosure=in_review, approver=bob, reason="yes"),
        lambda: review.disclosure_approve(disclosure=in_review, approver=bob, reason="yes"),
    ])
    assert sum(isinstance(o, Approval) for o in outcomes) == 1
    assert sum(isinstance(o, review.AlreadyDecided) for o in outcomes) == 1
    assert DisclosureRequest.objects.get(pk=in_review.pk).state == "in_review"


def test_approval_racing_withdrawal_never_leaves_both(cast: Any, met: Any,
                                                      in_review: DisclosureRequest) -> None:
    review.disclosure_approve(disclosure=in_review, approver=cast.user("bob"), reason="yes")
    outcomes = _race([
        lambda: review.disclosure_approve(disclosure=in_review, approver=cast.user("carol"),
                                       reason="yes"),
        lambda: review.disclosure_withdraw(disclosure=in_review, agency=met.agency),
    ])
    state = DisclosureRequest.objects.get(pk=in_review.pk).state
    assert state in {"approved", "withdrawn"}
    # Withdrawal after approval is legal; approval after withdrawal is refused.
    if isinstance(outcomes[0], Exception):
        assert state == "withdrawn"
        assert isinstance(outcomes[0], review.RequestStateConflict)


def test_stale_instances_cannot_both_transition(in_review: DisclosureRequest) -> None:
    first = DisclosureRequest.objects.get(pk=in_review.pk)
    second = DisclosureRequest.objects.get(pk=in_review.pk)

    def move(instance: DisclosureRequest, name: str) -> Any:
        with transaction.atomic():
            return getattr(workflow, name)(instance, actor=Actor.system("test"))

    outcomes = _race([lambda: move(first, "request_information"),
                      lambda: move(second, "reject")])
    assert sum(not isinstance(o, Exception) for o in outcomes) == 1
    assert DisclosureRequest.objects.get(pk=in_review.pk).state in {"needs_information",
                                                                    "rejected"}
