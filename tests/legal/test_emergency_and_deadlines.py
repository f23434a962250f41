"""The emergency path, call-back verification, retrospective review, expiry and escalation."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from escrow.log.models import AuditEvent
from legal_requests import tasks
from legal_requests.models import Approval, DisclosureRequest
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/api/v1/disclosure-requests"
FACTS = "Caller threatened to kill a named child at a stated address tonight."


def url(request: Any, action: str = "") -> str:
    return f"{URL}/{request.pk}" + (f"/{action}" if action else "")


def reload(request: Any) -> DisclosureRequest:
    return DisclosureRequest.objects.get(pk=request.pk)


def events(request: Any, event_type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_ref=f"disclosure_request:{request.pk}",
                                          event_type=event_type).order_by("id"))


def details(event: AuditEvent) -> dict[str, Any]:
    return json.loads(bytes(event.entry))["details"]


@pytest.fixture
def emergency(cast: Any, met: Any, targets: list[Any]) -> DisclosureRequest:
    request = factories.disclosure_request(agency=met.agency, targets=[targets[0]],
                                           legal_basis="GB-EAW:emergency", emergency_facts=FACTS)
    assert cast.client("alice").post(url(request, "review")).status_code == 200
    return reload(request)


def test_an_emergency_cannot_be_approved_without_callback_verification(
        cast: Any, emergency: DisclosureRequest) -> None:
    response = cast.client("bob").post(url(emergency, "approve"), {"reason": "x"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "callback_verification_required"
    assert reload(emergency).state == "in_review"
    assert not Approval.objects.exists()


def test_the_database_refuses_an_unverified_emergency_approval(emergency: DisclosureRequest
                                                               ) -> None:
    # Defence in depth: even a bypass of the service cannot store it.
    with pytest.raises(IntegrityError), transaction.atomic():
        DisclosureRequest.objects.filter(pk=emergency.pk).update(state="approved")


def test_emergency_path_one_approval_then_retrospective_review(
        cast: Any, met: Any, emergency: DisclosureRequest) -> None:
    verified = cast.client("alice").post(url(emergency, "callback-verification"),
                                         {"method": "phone", "notes": "Duty inspector confirmed"},
                                         format="json")
    assert verified.status_code == 200, verified.content
    assert verified.json()["callback_verified_by"] == cast.user("alice").pk
    [callback] = events(emergency, "disclosure.callback_verified")
    assert details(callback)["method"] == "phone"
    assert b"+442072301212" not in bytes(callback.entry)  # the contact used is sealed
    twice = cast.client("alice").post(url(emergency, "callback-verification"),
                                      {"method": "email"}, format="json")
    assert twice.status_code == 409

    before = timezone.now()
    approved = cast.client("bob").post(url(emergency, "approve"), {"reason": "Threat to life."},
                                       format="json")
    assert approved.status_code == 200
    assert approved.json()["state"] == "approved"
    stored = reload(emergency)
    assert stored.approval_event is not None
    assert details(stored.approval_event)["emergency"] is True
    due = stored.review_due_at
    assert due is not None
    assert timedelta(hours=47, minutes=59) < due - before <= timedelta(hours=48, minutes=1)

    # The approver cannot also review; two other approvers can.
    again = cast.client("bob").post(url(emergency, "retrospective-review"),
                                    {"upheld": True, "reason": "x"}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "already_decided"
    assert cast.client("alice").post(url(emergency, "retrospective-review"),
                                     {"upheld": True, "reason": "x"},
                                     format="json").status_code == 403
    for name in ("carol", "erin"):
        response = cast.client(name).post(url(emergency, "retrospective-review"),
                                          {"upheld": True, "reason": "Justified."}, format="json")
        assert response.status_code == 200, response.content
    [completed] = events(emergency, "disclosure.retrospective_review_completed")
    assert details(completed)["upheld"] is True
    assert details(completed)["late"] is False
    third = factories.staff("trent", *cast.ROLES["bob"], password="correct horse battery")
    from tests.legal.conftest import staff_client

    late = staff_client(third).post(url(emergency, "retrospective-review"),
                                    {"upheld": False, "reason": "x"}, format="json")
    assert late.status_code == 409
    # A complete review is never escalated.
    DisclosureRequest.objects.filter(pk=emergency.pk).update(
        review_due_at=timezone.now() - timedelta(minutes=1))
    assert tasks.escalate_overdue_reviews() == 0


def test_the_callback_verifier_cannot_approve(cast: Any, emergency: DisclosureRequest) -> None:
    assert cast.client("bob").post(url(emergency, "callback-verification"),
                                   {"method": "email"}, format="json").status_code == 200
    response = cast.client("bob").post(url(emergency, "approve"), {"reason": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "separation_of_duties"


def test_an_approver_of_a_request_cannot_also_verify_its_callback(
        cast: Any, emergency: DisclosureRequest) -> None:
    # The API asks for the call-back before any approval, so bob's decision is written
    # directly: the rule must hold however the decision came to be recorded.
    from escrow.log.events import Actor, event_record

    bob = cast.user("bob")
    event = event_record(event_type="disclosure.decision_recorded",
                         actor=Actor.for_staff(bob.pk, "approver"),
                         object_ref=f"disclosure_request:{emergency.pk}")
    Approval.objects.create(request=emergency, approver=bob, decision="reject",
                            reason="Not proportionate.", audit_event=event)
    response = cast.client("bob").post(url(emergency, "callback-verification"),
                                       {"method": "phone"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "separation_of_duties"
    stored = reload(emergency)
    assert stored.callback_verified_at is None
    assert stored.callback_verified_by is None
    assert events(emergency, "disclosure.callback_verified") == []
    # Someone who has not decided on it still can.
    verified = cast.client("alice").post(url(emergency, "callback-verification"),
                                         {"method": "phone"}, format="json")
    assert verified.status_code == 200
    assert verified.json()["callback_verified_by"] == cast.user("alice").pk


def test_callback_verification_is_for_emergencies_only(cast: Any, met: Any,
                                                       targets: list[Any]) -> None:
    ordinary = factories.disclosure_request(agency=met.agency, targets=[targets[0]])
    response = cast.client("alice").post(url(ordinary, "callback-verification"),
                                         {"method": "phone"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "not_an_emergency"
    response = cast.client("carol").post(url(ordinary, "retrospective-review"),
                                         {"upheld": True, "reason": "x"}, format="json")
    assert response.json()["code"] == "not_an_emergency"


def test_a_missed_review_is_escalated_once(cast: Any, emergency: DisclosureRequest,
                                           settings: Any, eager_tasks: None,
                                           django_capture_on_commit_callbacks: Any) -> None:
    settings.ADMINS = [("Operator", "operator@escrow.example")]
    cast.user("oscar")
    cast.client("alice").post(url(emergency, "callback-verification"), {"method": "phone"},
                              format="json")
    cast.client("bob").post(url(emergency, "approve"), {"reason": "x"}, format="json")
    cast.client("carol").post(url(emergency, "retrospective-review"),
                              {"upheld": True, "reason": "x"}, format="json")
    assert tasks.escalate_overdue_reviews() == 0  # not yet due
    DisclosureRequest.objects.filter(pk=emergency.pk).update(
        review_due_at=timezone.now() - timedelta(minutes=1))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.escalate_overdue_reviews() == 1
    assert tasks.escalate_overdue_reviews() == 0  # safe to run twice
    stored = reload(emergency)
    assert stored.review_escalated_at is not None
    [escalated] = events(emergency, "disclosure.retrospective_review_escalated")
    assert details(escalated)["reviews"] == 1
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert recipients == ["operator@escrow.example", "oscar@escrow.example"]
    assert stored.reference in mail.outbox[0].subject
    # The late second review still completes, marked late.
    erin = cast.client("erin").post(url(emergency, "retrospective-review"),
                                    {"upheld": False, "reason": "Not imminent."}, format="json")
    assert erin.status_code == 200
    [completed] = events(emergency, "disclosure.retrospective_review_completed")
    assert details(completed) | {"reference": ""} == {
        "reference": "", "upheld": False, "late": True, "jurisdiction": "GB-EAW",
        "legal_basis": "GB-EAW:emergency"}


def test_the_expiry_task_expires_open_requests_once(cast: Any, met: Any, targets: list[Any]
                                                    ) -> None:
    lapsed = factories.disclosure_request(agency=met.agency, targets=[targets[0]])
    current = factories.disclosure_request(agency=met.agency, targets=[targets[1]])
    done = factories.disclosure_request(agency=met.agency, targets=[targets[2]])
    met.client.post(url(done, "withdraw"), {}, format="json")
    DisclosureRequest.objects.filter(pk__in=[lapsed.pk, done.pk]).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    assert tasks.expire_due_requests() == 1
    assert tasks.expire_due_requests() == 0
    assert reload(lapsed).state == "expired"
    assert reload(current).state == "received"
    assert reload(done).state == "withdrawn"
    [expired] = events(lapsed, "disclosure.expired")
    assert expired.actor_kind == "system"
    # An expired request can no longer be reviewed or approved.
    response = cast.client("alice").post(url(lapsed, "review"))
    assert response.status_code == 409


def test_an_approved_request_past_its_expiry_is_expired(cast: Any, met: Any,
                                                        targets: list[Any]) -> None:
    request = factories.disclosure_request(agency=met.agency, targets=[targets[0]])
    cast.client("alice").post(url(request, "review"))
    cast.client("bob").post(url(request, "approve"), {"reason": "x"}, format="json")
    cast.client("carol").post(url(request, "approve"), {"reason": "x"}, format="json")
    assert reload(request).state == "approved"
    DisclosureRequest.objects.filter(pk=request.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    assert tasks.expire_due_requests() == 1
    assert reload(request).state == "expired"
