"""Intake officers' pages: a request received on paper entered with its document, answers
to requests for information entered, and the queue's due-date filter."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from escrow.crypto.pseudonym import pseudonym_derive
from escrow.log.models import AuditEvent
from legal_requests.models import DisclosureRequest
from legal_requests.services.review import disclosure_information_ask
from tests import factories
from tests.console.conftest import Story, console_client

pytestmark = pytest.mark.django_db

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _paper(story: Story, **overrides: Any) -> dict[str, Any]:
    now = timezone.now()
    target = story.disclosure.targets.get().pseudonym
    form: dict[str, Any] = {
        "agency": str(story.agency.pk), "officer_name": "DS Ruth Example",
        "officer_rank": "Detective Sergeant", "officer_badge": "", "officer_email":
        "ruth.example@police.example", "officer_phone": "+44 20 7946 0001",
        "case_reference": "OP-HERON-7", "legal_basis": "GB-EAW:production-order",
        "issuing_authority": "Westminster Magistrates' Court",
        "issued_on": (now - timedelta(days=1)).date().isoformat(),
        "expires_at": (now + timedelta(days=20)).strftime("%Y-%m-%dT%H:%M"),
        "targets": f"{target}\n", "requested_fields": ["given_name", "family_name"],
        "justification": "Threats sent to the complainant by post, then online.",
        "emergency_facts": "", "nondisclosure_until": "", "nondisclosure_basis": "",
        "document": SimpleUploadedFile("order.pdf", factories.LEGAL_DOCUMENT,
                                       content_type="application/pdf"),
    }
    form.update(overrides)
    return form


def _refusals(reason: str) -> int:
    return sum(1 for e in AuditEvent.objects.filter(event_type="disclosure.refused_at_intake")
               if json.loads(bytes(e.entry))["details"]["reason"] == reason)


def test_an_intake_officer_enters_a_paper_request_with_its_document(story: Story) -> None:
    client = console_client(story.alice)
    form_page = client.get("/console/requests/new").content.decode()
    assert "Enter a request received on paper" in form_page
    response = client.post("/console/requests/new", _paper(story))
    assert response.status_code == 302
    created = DisclosureRequest.objects.exclude(pk=story.disclosure.pk).get()
    assert response["Location"] == f"/console/requests/{created.pk}/"
    assert (created.channel, created.entered_by, created.state) == ("paper", story.alice,
                                                                     "received")
    assert created.document_content_type == "application/pdf"
    received = AuditEvent.objects.get(event_type="disclosure.received",
                                      object_ref=created.object_ref)
    assert (received.actor_kind, received.actor_ref) == ("staff", str(story.alice.pk))
    page = client.get(response["Location"]).content.decode()
    assert f"{created.reference} is received and logged" in page


def test_a_document_that_is_not_what_it_claims_is_refused_and_logged(story: Story) -> None:
    client = console_client(story.alice)
    disguised = SimpleUploadedFile("order.pdf", PNG_BYTES, content_type="application/pdf")
    response = client.post("/console/requests/new", _paper(story, document=disguised))
    assert response.status_code == 422
    assert "is not application/pdf" in response.content.decode()
    assert DisclosureRequest.objects.count() == 1
    assert _refusals("document_type_mismatch") == 1


def test_a_document_over_the_limit_is_refused_as_the_api_does(story: Story,
                                                               settings: Any) -> None:
    settings.DISCLOSURE_DOCUMENT_MAX_BYTES = 64
    client = console_client(story.alice)
    big = SimpleUploadedFile("order.pdf", factories.LEGAL_DOCUMENT + b" " * 100,
                             content_type="application/pdf")
    response = client.post("/console/requests/new", _paper(story, document=big))
    assert response.status_code == 413
    assert "exceeds 64 bytes" in response.content.decode()
    assert _refusals("document_too_large") == 1


def test_unknown_pseudonyms_and_missing_fields_are_said_in_words(story: Story) -> None:
    client = console_client(story.alice)
    nobody = pseudonym_derive(platform_key=secrets.token_bytes(32), record_id=b"no record")
    known = story.disclosure.targets.get().pseudonym
    unknown = client.post("/console/requests/new", _paper(story, targets=f"{known}\n{nobody}"))
    assert unknown.status_code == 422
    assert "pseudonym on line 2" in unknown.content.decode()
    assert _refusals("unknown_pseudonym") == 1
    mistyped = client.post("/console/requests/new", _paper(story, targets="not-a-pseudonym"))
    assert mistyped.status_code == 400
    assert "Not a well-formed pseudonym: line 1 (" in mistyped.content.decode()
    missing = client.post("/console/requests/new", _paper(story, officer_rank="", document=""))
    assert missing.status_code == 400
    page = missing.content.decode()
    assert "Give the officer&#x27;s rank or badge number." in page
    assert "This field is required." in page  # the document
    assert DisclosureRequest.objects.count() == 1


def test_an_answer_received_on_paper_is_entered_and_the_request_returns_to_review(
        story: Story) -> None:
    disclosure_information_ask(disclosure=story.disclosure, staff=story.bob,
                               question="Which account handle did the complainant see?")
    client = console_client(story.alice)
    page = client.get(f"/console/requests/{story.disclosure.pk}/").content.decode()
    assert "Enter an answer received on paper or by email" in page
    response = client.post(f"/console/requests/{story.disclosure.pk}/information/answer",
                           {"channel": "email", "answer": "The handle shown in exhibit 2."})
    assert response.status_code == 302
    story.disclosure.refresh_from_db()
    assert story.disclosure.state == "in_review"
    assert story.disclosure.information_response == "The handle shown in exhibit 2."
    answered = AuditEvent.objects.filter(object_ref=story.disclosure.object_ref).latest("pk")
    details = json.loads(bytes(answered.entry))["details"]
    assert (answered.actor_ref, details["channel"], details["to"]) == (
        str(story.alice.pk), "email", "in_review")
    # Once answered there is nothing to enter: a second answer is refused in words.
    again = client.post(f"/console/requests/{story.disclosure.pk}/information/answer",
                        {"channel": "paper", "answer": "again"})
    assert again.status_code == 409
    assert "present state" in again.content.decode()


def test_the_queue_filters_by_due_date(story: Story) -> None:
    platform, _ = factories.platform_with_key(name="Due platform")
    soon = factories.disclosure_request(agency=story.agency, expires_in_days=1,
                                        targets=[factories.enrolment(platform)])
    client = console_client(story.bob)
    within_two_days = client.get("/console/requests/?state=any&due=2d").content.decode()
    assert soon.reference in within_two_days
    assert story.disclosure.reference not in within_two_days
    within_month = client.get("/console/requests/?state=any&due=30d").content.decode()
    assert soon.reference in within_month
    assert story.disclosure.reference in within_month
    DisclosureRequest.objects.filter(pk=soon.pk).update(
        review_due_at=timezone.now() - timedelta(hours=1))
    overdue = client.get("/console/requests/?state=any&due=overdue").content.decode()
    assert soon.reference in overdue
    assert story.disclosure.reference not in overdue
    assert client.get("/console/requests/?due=tomorrow").status_code == 400
