"""Review and decision over the API, with separation of duties and expiry."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from escrow.log.models import AuditEvent
from legal_requests.models import Approval, CustodianResponse, DisclosureRequest
from legal_requests.selectors import disclosure_approver_ids
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/api/v1/disclosure-requests"


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
def filed(met: Any, targets: list[Any]) -> DisclosureRequest:
    return factories.disclosure_request(agency=met.agency, targets=targets[:2])


@pytest.fixture
def in_review(cast: Any, filed: DisclosureRequest) -> DisclosureRequest:
    response = cast.client("alice").post(url(filed, "review"))
    assert response.status_code == 200, response.content
    return reload(filed)


def test_review_then_two_approvals_approve(cast: Any, in_review: DisclosureRequest) -> None:
    assert in_review.state == "in_review"
    assert in_review.reviewed_by == cast.user("alice")
    started = events(in_review, "disclosure.review_started")
    assert [details(e)["from"] for e in started] == ["received"]

    first = cast.client("bob").post(url(in_review, "approve"), {"reason": "Order in scope."},
                                    format="json")
    assert first.status_code == 200, first.content
    assert first.json()["state"] == "in_review"
    assert first.json()["approvals_received"] == 1
    second = cast.client("carol").post(url(in_review, "approve"), {"reason": "Agreed."},
                                       format="json")
    assert second.status_code == 200
    body = second.json()
    assert body["state"] == "approved"
    assert body["approvals_received"] == 2
    assert [d["approver_id"] for d in body["decisions"]] == [cast.user("bob").pk,
                                                            cast.user("carol").pk]

    stored = reload(in_review)
    [approved] = events(stored, "disclosure.approved")
    assert stored.approval_event_id == approved.pk == body["approval_event"]
    logged = details(approved)
    assert logged["fields"] == ["given_name", "family_name"]
    assert logged["target_count"] == 2
    assert logged["approvers"] == [str(cast.user("bob").pk), str(cast.user("carol").pk)]
    assert stored.review_due_at is None  # not an emergency
    assert disclosure_approver_ids(stored) == {cast.user("bob").pk, cast.user("carol").pk}
    # Reasons are sealed, not public.
    assert b"Order in scope" not in bytes(events(stored, "disclosure.decision_recorded")[0].entry)


def test_the_reviewer_cannot_approve(cast: Any, filed: DisclosureRequest) -> None:
    assert cast.client("bob").post(url(filed, "review")).status_code == 200
    response = cast.client("bob").post(url(filed, "approve"), {"reason": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "separation_of_duties"
    assert not Approval.objects.exists()


def test_whoever_entered_a_request_cannot_approve_it(cast: Any, met: Any, targets: list[Any]
                                                     ) -> None:
    entered = factories.disclosure_request(agency=met.agency, targets=[targets[0]],
                                           entered_by=cast.user("mallory"))
    assert cast.client("alice").post(url(entered, "review")).status_code == 200
    response = cast.client("mallory").post(url(entered, "approve"), {"reason": "x"},
                                           format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "separation_of_duties"
    assert reload(entered).state == "in_review"


def test_no_one_approves_twice(cast: Any, in_review: DisclosureRequest) -> None:
    bob = cast.client("bob")
    assert bob.post(url(in_review, "approve"), {"reason": "a"}, format="json").status_code == 200
    again = bob.post(url(in_review, "approve"), {"reason": "b"}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "already_decided"
    assert Approval.objects.filter(request=in_review).count() == 1
    assert reload(in_review).state == "in_review"


def test_approval_after_expiry_is_refused_and_expires_the_request(
        cast: Any, in_review: DisclosureRequest) -> None:
    DisclosureRequest.objects.filter(pk=in_review.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1))
    response = cast.client("bob").post(url(in_review, "approve"), {"reason": "x"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "request_expired"
    assert reload(in_review).state == "expired"
    assert not Approval.objects.exists()
    assert len(events(in_review, "disclosure.expired")) == 1


@pytest.mark.parametrize("who", ["dave", "alice", "frank"])
def test_only_approvers_approve(cast: Any, in_review: DisclosureRequest, who: str) -> None:
    response = cast.client(who).post(url(in_review, "approve"), {"reason": "x"}, format="json")
    assert response.status_code == 403
    assert not Approval.objects.exists()


@pytest.mark.parametrize("action", ["review", "approve", "reject", "request-information",
                                    "callback-verification", "retrospective-review",
                                    "document"])
def test_an_agency_key_cannot_act_as_staff(met: Any, filed: DisclosureRequest,
                                           action: str) -> None:
    body = {"reason": "x", "question": "q", "method": "phone", "upheld": True}
    if action == "document":
        response = met.client.get(url(filed, action))
    else:
        response = met.client.post(url(filed, action), body, format="json")
    assert response.status_code == 403
    assert reload(filed).state == "received"


def test_approve_needs_review_first(cast: Any, filed: DisclosureRequest) -> None:
    response = cast.client("bob").post(url(filed, "approve"), {"reason": "x"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "state_conflict"


def test_a_rejection_ends_the_request(cast: Any, in_review: DisclosureRequest) -> None:
    response = cast.client("carol").post(url(in_review, "reject"),
                                         {"reason": "Order does not name the account."},
                                         format="json")
    assert response.status_code == 200
    assert response.json()["state"] == "rejected"
    assert response.json()["outcome_reason"] == "Order does not name the account."
    assert len(events(in_review, "disclosure.rejected")) == 1
    late = cast.client("bob").post(url(in_review, "approve"), {"reason": "x"}, format="json")
    assert late.status_code == 409


def test_information_round_trip(cast: Any, met: Any, in_review: DisclosureRequest) -> None:
    asked = cast.client("alice").post(url(in_review, "request-information"),
                                      {"question": "Please send page 2 of the order."},
                                      format="json")
    assert asked.status_code == 200
    assert asked.json()["state"] == "needs_information"
    seen = met.client.get(url(in_review)).json()
    assert seen["information_request"] == "Please send page 2 of the order."
    # Approvals wait while information is outstanding.
    waiting = cast.client("bob").post(url(in_review, "approve"), {"reason": "x"}, format="json")
    assert waiting.status_code == 409
    answered = met.client.post(url(in_review, "information-response"),
                               {"answer": "Page 2 is attached to the original email."},
                               format="json")
    assert answered.status_code == 200
    assert answered.json()["state"] == "in_review"
    assert reload(in_review).information_response.startswith("Page 2")
    again = met.client.post(url(in_review, "information-response"), {"answer": "x"},
                            format="json")
    assert again.status_code == 409
    assert [details(e)["to"] for e in events(in_review, "disclosure.information_provided")] == [
        "in_review"]


def test_another_agency_cannot_answer_or_withdraw(fbi: Any, filed: DisclosureRequest) -> None:
    assert fbi.client.post(url(filed, "withdraw"), {}, format="json").status_code == 404
    assert fbi.client.post(url(filed, "information-response"), {"answer": "x"},
                           format="json").status_code == 404


def test_the_agency_withdraws(met: Any, cast: Any, filed: DisclosureRequest) -> None:
    response = met.client.post(url(filed, "withdraw"), {"reason": "Suspect charged."},
                               format="json")
    assert response.status_code == 200
    assert response.json()["state"] == "withdrawn"
    again = met.client.post(url(filed, "withdraw"), {}, format="json")
    assert again.status_code == 409
    assert cast.client("alice").post(url(filed, "review")).status_code == 409


def test_staff_read_the_sealed_document_and_each_read_is_logged(
        cast: Any, met: Any, filed: DisclosureRequest) -> None:
    response = cast.client("bob").get(url(filed, "document"))
    assert response.status_code == 200
    assert response.content == factories.LEGAL_DOCUMENT
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "no-store"
    assert len(events(filed, "disclosure.document_read")) == 1
    assert cast.client("frank").get(url(filed, "document")).status_code == 403


def test_an_unknown_request_is_404(cast: Any, db: Any) -> None:
    response = cast.client("bob").post(f"{URL}/00000000-0000-4000-8000-000000000000/approve",
                                       {"reason": "x"}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_custodian_who_responded_cannot_also_decide(cast: Any, in_review: DisclosureRequest
                                                      ) -> None:
    # A person holding both roles serves a request in one capacity only.
    from accounts.roles import Role
    from accounts.services import staff_role_set
    from escrow.log.events import Actor, event_record

    erin = cast.user("erin")
    staff_role_set(user=erin, role=Role.CUSTODIAN, granted=True)
    event = event_record(event_type="release.custodian_refused", actor=Actor.for_staff(erin.pk))
    CustodianResponse.objects.create(request=in_review, custodian=erin, custodian_index=1,
                                     key_epoch=1, refusal_reason="not yet", audit_event=event)
    response = cast.client("erin").post(url(in_review, "approve"), {"reason": "x"},
                                        format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "separation_of_duties"


def test_the_staff_view_shows_the_callback_contacts_on_file(cast: Any, met: Any,
                                                            filed: DisclosureRequest) -> None:
    body = cast.client("alice").get(url(filed)).json()
    assert body["agency_callback_phone"] == "+442072301212"
    assert body["agency_callback_email"] == "duty-desk@police.example"
    assert "agency_callback_phone" not in met.client.get(url(filed)).json()


@pytest.mark.parametrize("who", ["dave", "frank"])
def test_only_intake_officers_and_approvers_start_review(cast: Any, filed: DisclosureRequest,
                                                         who: str) -> None:
    assert cast.client(who).post(url(filed, "review")).status_code == 403
    assert reload(filed).state == "received"


def test_information_can_only_be_requested_in_review(cast: Any, filed: DisclosureRequest
                                                     ) -> None:
    response = cast.client("alice").post(url(filed, "request-information"), {"question": "q"},
                                         format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "state_conflict"
    assert cast.client("dave").post(url(filed, "request-information"), {"question": "q"},
                                    format="json").status_code == 403


def test_decisions_need_a_reason_and_the_approver_role(cast: Any, in_review: DisclosureRequest
                                                       ) -> None:
    missing = cast.client("bob").post(url(in_review, "approve"), {}, format="json")
    assert missing.status_code == 400
    assert missing.json()["errors"][0] == {"field": "reason", "code": "required",
                                           "message": "This field is required."}
    assert cast.client("dave").post(url(in_review, "reject"), {"reason": "x"},
                                    format="json").status_code == 403
    # The reviewer may not reject either: a decision is a decision.
    response = cast.client("alice").post(url(in_review, "reject"), {"reason": "x"},
                                         format="json")
    assert response.status_code == 403
    assert reload(in_review).state == "in_review"


def test_platform_keys_cannot_read_disclosure_data(platform_a: Any, filed: DisclosureRequest
                                                   ) -> None:
    assert platform_a.client.get(URL).status_code == 403
    assert platform_a.client.get(url(filed)).status_code == 403
    assert platform_a.client.get("/api/v1/legal-bases").status_code == 403
    assert platform_a.client.get("/api/v1/legal-holds").status_code == 403
