"""Service-level rules of the review workflow that mutation testing found unguarded.

`make mutation` (tests/mutation.py) showed that deleting these guards in
legal_requests/services/review.py left every test passing: the API layer happened to
enforce the same rule first. These tests call the services directly, so the service
itself must keep the rule.
"""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from accounts.roles import Role
from accounts.services import staff_role_set
from escrow.log.events import Actor, event_record, sealed_detail_open
from escrow.log.models import AuditEvent
from legal_requests.models import Approval, CustodianResponse, DisclosureRequest
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


@pytest.fixture
def received(met: Any, targets: list[Any]) -> DisclosureRequest:
    return factories.disclosure_request(agency=met.agency, targets=[targets[0]])


def _reload(request: DisclosureRequest) -> DisclosureRequest:
    return DisclosureRequest.objects.get(pk=request.pk)


@pytest.mark.parametrize("who", ["alice", "dave", "frank"])
def test_only_approvers_decide(cast: Any, in_review: DisclosureRequest, who: str) -> None:
    staff = cast.user(who)
    with pytest.raises(review.RoleRequired):
        review.disclosure_approve(disclosure=in_review, approver=staff, reason="ok")
    with pytest.raises(review.RoleRequired):
        review.disclosure_reject(disclosure=in_review, approver=staff, reason="no")
    assert not Approval.objects.exists()
    assert _reload(in_review).state == DisclosureRequest.State.IN_REVIEW


@pytest.mark.parametrize("who", ["dave", "frank"])
def test_only_intake_officers_and_approvers_review_or_ask_for_information(
        cast: Any, received: DisclosureRequest, who: str) -> None:
    with pytest.raises(review.RoleRequired):
        review.disclosure_review_start(disclosure=received, reviewer=cast.user(who))
    assert _reload(received).state == DisclosureRequest.State.RECEIVED
    review.disclosure_review_start(disclosure=received, reviewer=cast.user("bob"))
    with pytest.raises(review.RoleRequired):
        review.disclosure_information_ask(disclosure=received, staff=cast.user(who),
                                          question="Which account?")
    assert _reload(received).state == DisclosureRequest.State.IN_REVIEW


def test_the_reviewer_is_logged_in_the_role_they_acted_in(
        cast: Any, met: Any, targets: list[Any]) -> None:
    by_approver = factories.disclosure_request(agency=met.agency, targets=[targets[0]])
    by_officer = factories.disclosure_request(agency=met.agency, targets=[targets[1]])
    review.disclosure_review_start(disclosure=by_approver, reviewer=cast.user("bob"))
    # mallory holds both roles: the first of the roles the action accepts is recorded.
    review.disclosure_review_start(disclosure=by_officer, reviewer=cast.user("mallory"))
    started = AuditEvent.objects.filter(event_type="disclosure.review_started").order_by("id")
    assert [(e.object_ref, e.actor_ref, e.actor_role) for e in started] == [
        (by_approver.object_ref, str(cast.user("bob").pk), "approver"),
        (by_officer.object_ref, str(cast.user("mallory").pk), "intake_officer"),
    ]


def test_a_request_expiring_this_instant_can_no_longer_be_approved(
        cast: Any, in_review: DisclosureRequest, monkeypatch: Any) -> None:
    instant = timezone.now()
    DisclosureRequest.objects.filter(pk=in_review.pk).update(expires_at=instant)
    monkeypatch.setattr(review, "timezone", SimpleNamespace(now=lambda: instant))
    with pytest.raises(review.RequestExpired):
        review.disclosure_approve(disclosure=in_review, approver=cast.user("bob"), reason="ok")
    assert not Approval.objects.exists()
    assert _reload(in_review).state == DisclosureRequest.State.EXPIRED


def test_a_request_can_be_rejected_before_review_and_while_awaiting_information(
        cast: Any, met: Any, targets: list[Any], received: DisclosureRequest) -> None:
    review.disclosure_reject(disclosure=received, approver=cast.user("bob"), reason="No basis")
    assert _reload(received).state == DisclosureRequest.State.REJECTED
    waiting = factories.disclosure_request(agency=met.agency, targets=[targets[1]])
    review.disclosure_review_start(disclosure=waiting, reviewer=cast.user("alice"))
    review.disclosure_information_ask(disclosure=waiting, staff=cast.user("alice"),
                                      question="Which account?")
    review.disclosure_reject(disclosure=waiting, approver=cast.user("bob"), reason="No answer")
    stored = _reload(waiting)
    assert (stored.state, stored.outcome_reason) == (DisclosureRequest.State.REJECTED,
                                                     "No answer")


def test_an_approved_request_can_no_longer_be_rejected(cast: Any,
                                                       in_review: DisclosureRequest) -> None:
    for name in ("bob", "carol"):
        review.disclosure_approve(disclosure=in_review, approver=cast.user(name), reason="ok")
    with pytest.raises(review.RequestStateConflict):
        review.disclosure_reject(disclosure=in_review, approver=cast.user("erin"), reason="no")
    assert _reload(in_review).state == DisclosureRequest.State.APPROVED
    assert Approval.objects.filter(request=in_review).count() == 2


def _entry_details(event: AuditEvent) -> dict[str, Any]:
    return json.loads(bytes(event.entry))["details"]


def test_a_new_question_clears_the_previous_answer_and_seals_the_question(
        cast: Any, met: Any, in_review: DisclosureRequest) -> None:
    bob = cast.user("bob")
    review.disclosure_information_ask(disclosure=in_review, staff=bob, question="Which account?")
    review.disclosure_information_answer(disclosure=in_review, agency=met.agency,
                                         answer="The second one.")
    asked = review.disclosure_information_ask(disclosure=in_review, staff=bob,
                                              question="Since when?")
    stored = _reload(asked)
    assert (stored.information_request, stored.information_response) == ("Since when?", "")
    last = AuditEvent.objects.filter(
        event_type="disclosure.information_requested").order_by("id").last()
    assert last is not None
    assert (last.actor_ref, last.actor_role) == (str(bob.pk), "approver")
    opened = sealed_detail_open(last)
    assert opened is not None
    assert opened["detail"] == {"question": "Since when?"}
    assert b"Since when?" not in bytes(last.entry)


def test_asking_about_an_expired_request_expires_it(
        cast: Any, in_review: DisclosureRequest) -> None:
    DisclosureRequest.objects.filter(pk=in_review.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(review.RequestExpired):
        review.disclosure_information_ask(disclosure=in_review, staff=cast.user("bob"),
                                          question="Which account?")
    assert _reload(in_review).state == DisclosureRequest.State.EXPIRED


def test_a_rejection_is_recorded_as_the_approvers_decision_and_logged(
        cast: Any, met: Any, in_review: DisclosureRequest) -> None:
    bob = cast.user("bob")
    rejection = review.disclosure_reject(disclosure=in_review, approver=bob,
                                         reason="No legal basis")
    assert (rejection.approver_id, rejection.decision, rejection.reason) == (
        bob.pk, Approval.Decision.REJECT, "No legal basis")
    assert Approval.objects.get(request=in_review) == rejection
    rejected = AuditEvent.objects.get(event_type="disclosure.rejected")
    assert (rejected.actor_ref, rejected.actor_role) == (str(bob.pk), "approver")
    assert _entry_details(rejected) == {
        "reference": in_review.reference, "from": "in_review", "to": "rejected",
        "legal_basis": "GB-EAW:production-order", "jurisdiction": "GB-EAW",
    }


def _approved_emergency(cast: Any, met: Any, target: Any) -> DisclosureRequest:
    request = factories.disclosure_request(agency=met.agency, targets=[target],
                                           legal_basis="GB-EAW:emergency", emergency_facts=FACTS)
    review.disclosure_review_start(disclosure=request, reviewer=cast.user("alice"))
    review.disclosure_callback_verify(disclosure=request, staff=cast.user("alice"),
                                      method="phone")
    review.disclosure_approve(disclosure=request, approver=cast.user("bob"), reason="ok")
    return _reload(request)


def test_the_retrospective_reviews_of_one_emergency_do_not_count_for_another(
        cast: Any, met: Any, targets: list[Any]) -> None:
    first = _approved_emergency(cast, met, targets[0])
    second = _approved_emergency(cast, met, targets[1])
    review.disclosure_retrospective_review(disclosure=first, approver=cast.user("carol"),
                                           upheld=False, reason="Not an emergency")
    for name in ("carol", "erin"):
        review.disclosure_retrospective_review(disclosure=second, approver=cast.user(name),
                                               upheld=True, reason="Justified")
    completed = AuditEvent.objects.filter(
        event_type="disclosure.retrospective_review_completed")
    assert [(e.object_ref, _entry_details(e)["upheld"]) for e in completed] == [
        (second.object_ref, True)]
    # Its approver is told they already decided, before anything about the review's state.
    with pytest.raises(review.AlreadyDecided):
        review.disclosure_retrospective_review(disclosure=second, approver=cast.user("bob"),
                                               upheld=True, reason="again")


def test_a_retrospective_review_completed_at_its_due_time_is_not_late(
        cast: Any, met: Any, targets: list[Any], monkeypatch: Any) -> None:
    emergency = _approved_emergency(cast, met, targets[0])
    due = emergency.review_due_at
    assert due is not None
    review.disclosure_retrospective_review(disclosure=emergency, approver=cast.user("carol"),
                                           upheld=True, reason="Justified")
    monkeypatch.setattr(review, "timezone", SimpleNamespace(now=lambda: due))
    review.disclosure_retrospective_review(disclosure=emergency, approver=cast.user("erin"),
                                           upheld=False, reason="Doubtful")
    completed = AuditEvent.objects.get(event_type="disclosure.retrospective_review_completed")
    assert completed.occurred_at == due
    assert (completed.actor_ref, completed.actor_role) == (str(cast.user("erin").pk),
                                                           "approver")
    assert _entry_details(completed) == {
        "reference": emergency.reference, "upheld": False, "late": False,
        "jurisdiction": "GB-EAW", "legal_basis": "GB-EAW:emergency",
    }


def test_each_decision_is_logged_with_its_stage_count_and_sealed_reason(
        cast: Any, met: Any, targets: list[Any], in_review: DisclosureRequest) -> None:
    review.disclosure_approve(disclosure=in_review, approver=cast.user("bob"),
                              reason="Proportionate")
    emergency = _approved_emergency(cast, met, targets[1])
    review.disclosure_retrospective_review(disclosure=emergency, approver=cast.user("carol"),
                                           upheld=True, reason="Justified")
    recorded = list(AuditEvent.objects.filter(
        event_type="disclosure.decision_recorded").order_by("id"))
    by_bob = recorded[0]
    by_carol = recorded[-1]
    assert (by_bob.actor_ref, by_bob.actor_role) == (str(cast.user("bob").pk), "approver")
    assert _entry_details(by_bob) == {
        "reference": in_review.reference, "decision": "approve", "stage": "decision",
        "approvals": 1, "approvals_required": 2,
    }
    assert _entry_details(by_carol) == {
        "reference": emergency.reference, "decision": "approve", "stage": "retrospective",
        "reviews": 1, "reviews_required": 2,
    }
    opened = [sealed_detail_open(e) for e in (by_bob, by_carol)]
    assert [o["detail"] if o else None for o in opened] == [
        {"reason": "Proportionate"}, {"reason": "Justified"}]
    assert b"Proportionate" not in bytes(by_bob.entry)


@pytest.mark.parametrize("control", ["superuser", "administrator_group"])
def test_whoever_administers_accounts_cannot_decide_a_request(
        cast: Any, in_review: DisclosureRequest, control: str) -> None:
    # Set up as an older account or a direct database change would leave it: the
    # services refuse to grant the administrator role to an approver.
    bob = cast.user("bob")
    if control == "superuser":
        User.objects.filter(pk=bob.pk).update(is_superuser=True)
    else:
        bob.groups.add(Group.objects.get_or_create(name=str(Role.ADMINISTRATOR))[0])
    bob = User.objects.get(pk=bob.pk)
    with pytest.raises(review.ReviewSeparationOfDuties):
        review.disclosure_approve(disclosure=in_review, approver=bob, reason="ok")
    with pytest.raises(review.ReviewSeparationOfDuties):
        review.disclosure_reject(disclosure=in_review, approver=bob, reason="no")
    assert not Approval.objects.exists()


def _custodian_response(request: DisclosureRequest, custodian: Any) -> None:
    staff_role_set(user=custodian, role=Role.CUSTODIAN, granted=True)
    event = event_record(event_type="release.custodian_refused",
                         actor=Actor.for_staff(custodian.pk))
    CustodianResponse.objects.create(request=request, custodian=custodian, custodian_index=1,
                                     key_epoch=1, refusal_reason="not yet", audit_event=event)


def test_a_custodian_of_one_request_may_decide_another(
        cast: Any, met: Any, targets: list[Any], in_review: DisclosureRequest) -> None:
    other = factories.disclosure_request(agency=met.agency, targets=[targets[1]])
    erin = cast.user("erin")
    _custodian_response(other, erin)
    # And another custodian's response on this request does not bind its approvers.
    _custodian_response(in_review, cast.user("frank"))
    approval = review.disclosure_approve(disclosure=in_review, approver=erin, reason="ok")
    assert approval.approver_id == erin.pk


def test_approvals_of_another_request_do_not_count_towards_this_one(
        cast: Any, met: Any, targets: list[Any], in_review: DisclosureRequest) -> None:
    other = factories.disclosure_request(agency=met.agency, targets=[targets[1]])
    review.disclosure_review_start(disclosure=other, reviewer=cast.user("alice"))
    review.disclosure_approve(disclosure=other, approver=cast.user("bob"), reason="ok")
    review.disclosure_approve(disclosure=in_review, approver=cast.user("carol"), reason="ok")
    assert _reload(in_review).state == DisclosureRequest.State.IN_REVIEW
    assert _reload(other).state == DisclosureRequest.State.IN_REVIEW


def test_starting_the_review_of_an_expired_request_expires_it(
        cast: Any, received: DisclosureRequest) -> None:
    DisclosureRequest.objects.filter(pk=received.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(review.RequestExpired):
        review.disclosure_review_start(disclosure=received, reviewer=cast.user("alice"))
    assert _reload(received).state == DisclosureRequest.State.EXPIRED
