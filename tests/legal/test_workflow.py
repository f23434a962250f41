"""The state machine itself: only the drawn transitions exist, and moves are compare-and-swap."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from escrow.log.events import Actor
from legal_requests.models import DisclosureRequest
from legal_requests.services import workflow
from tests import factories

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")

EXPECTED = {
    ("received", "in_review"), ("in_review", "needs_information"),
    ("needs_information", "in_review"), ("in_review", "approved"),
    ("approved", "releasing"), ("releasing", "released"), ("released", "closed"),
    *{(s, "rejected") for s in ("received", "in_review", "needs_information")},
    *{(s, "withdrawn") for s in ("received", "in_review", "needs_information", "approved")},
    *{(s, "expired") for s in ("received", "in_review", "needs_information", "approved",
                               "releasing")},
}


def test_the_graph_is_exactly_the_documented_one() -> None:
    graph = {(t.source, t.target) for t in DisclosureRequest().get_all_state_transitions()}
    assert graph == EXPECTED
    states = {s for edge in graph for s in edge}
    assert states == set(DisclosureRequest.State.values)


@pytest.fixture
def request_row(met: Any, targets: list[Any]) -> DisclosureRequest:
    return factories.disclosure_request(agency=met.agency, targets=[targets[0]])


def test_illegal_moves_raise_and_change_nothing(request_row: DisclosureRequest) -> None:
    with pytest.raises(TransitionNotAllowed), transaction.atomic():
        workflow.begin_release(request_row, actor=SYSTEM)
    with pytest.raises(AttributeError):
        request_row.state = "released"  # protected field
    request_row.refresh_from_db()
    assert request_row.state == "received"


def test_a_stale_copy_cannot_move_the_row(request_row: DisclosureRequest) -> None:
    stale = DisclosureRequest.objects.get(pk=request_row.pk)
    with transaction.atomic():
        workflow.withdraw(request_row, actor=SYSTEM)
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        workflow.start_review(stale, actor=SYSTEM)
    assert DisclosureRequest.objects.get(pk=request_row.pk).state == "withdrawn"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_moves_must_run_inside_a_transaction(request_row: DisclosureRequest) -> None:
    with pytest.raises(RuntimeError):
        workflow.start_review(request_row, actor=SYSTEM)
    assert DisclosureRequest.objects.get(pk=request_row.pk).state == "received"
