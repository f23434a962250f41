"""Service-level rules of the review workflow that mutation testing found unguarded.

`make mutation` (tests/mutation.py) showed that deleting these guards in
legal_requests/services/review.py left every test passing: the API layer happened to
enforce the same rule first. These tests call the services directly, so the service
itself must keep the rule.
"""

from __future__ import annotations

from typing import Any

import pytest

from legal_requests.models import Approval, DisclosureRequest
from legal_requests.services import review
from tests import factories

FACTS = "Caller threatened to kill a named child at a stated address tonight."


@pytest.fixture
def in_review(cast: Any, met: Any, targets: list[Any]) -> DisclosureRequest:
    request = factories.disclosure_request(agency=met.agency, targets=[targets[0]])
    review.disclosure_review_start(disclosure=request, reviewer=cast.user("alice"))
    return DisclosureRequest.objects.get(pk=request.pk)


@pytest.fixture
def emergency(cast: Any, met: Any, targets: list[Any]) -> DisclosureRequest:
    request = factories.disclosure_request(agency=met.agency, targets=[targets[0]],
                                           legal_basis="GB-EAW:emergency", emergency_facts=FACTS)
    review.disclosure_review_start(disclosure=request, reviewer=cast.user("alice"))
    return DisclosureRequest.objects.get(pk=request.pk)


def test_an_approver_cannot_also_record_the_callback_verification(
        cast: Any, emergency: DisclosureRequest) -> None:
    bob = cast.user("bob")
    # A decision already on record (reached here directly: the API orders the steps so
    # that it cannot happen, and this rule is the service's own defence).
    review._approval_insert(disclosure=emergency, approver=bob, decision="approve",
                            stage=Approval.Stage.DECISION, reason="x", event_details={})
    with pytest.raises(review.ReviewSeparationOfDuties):
        review.disclosure_callback_verify(disclosure=emergency, staff=bob, method="phone")
    assert DisclosureRequest.objects.get(pk=emergency.pk).callback_verified_at is None
    # Someone who has not decided may verify.
    verified = review.disclosure_callback_verify(disclosure=emergency, staff=cast.user("carol"),
                                                 method="phone")
    assert verified.callback_verified_by_id == cast.user("carol").pk


def test_only_the_filing_agency_can_answer_an_information_request(
        cast: Any, met: Any, fbi: Any, in_review: DisclosureRequest) -> None:
    review.disclosure_information_ask(disclosure=in_review, staff=cast.user("bob"),
                                      question="Which account?")
    with pytest.raises(review.RequestStateConflict, match="another agency"):
        review.disclosure_information_answer(disclosure=in_review, agency=fbi.agency,
                                             answer="forged")
    stored = DisclosureRequest.objects.get(pk=in_review.pk)
    assert stored.state == DisclosureRequest.State.NEEDS_INFORMATION
    assert stored.information_response != "forged"
    answered = review.disclosure_information_answer(disclosure=in_review, agency=met.agency,
                                                    answer="The second one.")
    assert answered.state == DisclosureRequest.State.IN_REVIEW


def test_only_the_filing_agency_can_withdraw_its_request(
        met: Any, fbi: Any, in_review: DisclosureRequest) -> None:
    with pytest.raises(review.RequestStateConflict, match="another agency"):
        review.disclosure_withdraw(disclosure=in_review, agency=fbi.agency, reason="forged")
    assert DisclosureRequest.objects.get(pk=in_review.pk).state == DisclosureRequest.State.IN_REVIEW
    withdrawn = review.disclosure_withdraw(disclosure=in_review, agency=met.agency)
    assert withdrawn.state == DisclosureRequest.State.WITHDRAWN


def test_the_filing_agency_can_still_withdraw_an_approved_request(
        cast: Any, met: Any, in_review: DisclosureRequest) -> None:
    for name in ("bob", "carol"):
        review.disclosure_approve(disclosure=in_review, approver=cast.user(name), reason="ok")
    assert DisclosureRequest.objects.get(pk=in_review.pk).state == DisclosureRequest.State.APPROVED
    withdrawn = review.disclosure_withdraw(disclosure=in_review, agency=met.agency)
    assert withdrawn.state == DisclosureRequest.State.WITHDRAWN
