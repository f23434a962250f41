"""Approvers' pages: the queue, a request, and a decision behind a step-up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from escrow.log.models import AuditEvent
from legal_requests.models import Approval, DisclosureRequest
from tests import factories
from tests.console.conftest import Story, console_client, otp_code

pytestmark = pytest.mark.django_db


def _decide(client: Any, user: Any, disclosure: Any, decision: str = "approve",
            code: str | None = None) -> Any:
    return client.post(f"/console/requests/{disclosure.pk}/decision", {
        "decision": decision, "reason": "The order is in scope and in force.",
        # A new code: the one used to sign in is spent for its time step.
        "otp_code": code if code is not None else otp_code(user, drift=1),
    })


def test_the_queue_lists_emergencies_first_with_counts_and_filters(story: Story) -> None:
    other, _ = factories.agency_with_key(name="Greater Manchester Police")
    platform, _ = factories.platform_with_key(name="Other platform")
    emergency = factories.disclosure_request(
        agency=other, targets=[factories.enrolment(platform)],
        legal_basis="GB-EAW:emergency", fields=("given_name",),
        emergency_facts="A threat to life reported an hour ago.")
    client = console_client(story.bob)
    page = client.get("/console/requests/?state=any").content.decode()
    assert page.index(emergency.reference) < page.index(story.disclosure.reference)
    assert "Emergency" in page
    assert re.search(r"<dt>In Review</dt><dd>1</dd>", page)
    assert re.search(r"<dt>Received</dt><dd>1</dd>", page)

    by_agency = client.get(f"/console/requests/?state=any&agency={other.pk}").content.decode()
    assert emergency.reference in by_agency
    assert story.disclosure.reference not in by_agency
    in_review = client.get("/console/requests/?state=in_review").content.decode()
    assert story.disclosure.reference in in_review
    assert emergency.reference not in in_review
    assert client.get("/console/requests/?state=nonsense").status_code == 400


def test_htmx_gets_the_results_only(story: Story) -> None:
    client = console_client(story.bob)
    partial = client.get("/console/requests/", HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<section id="queue-results"')
    assert story.disclosure.reference in partial


def test_the_queue_paginates(story: Story, settings: Any) -> None:
    from console import selectors

    selectors.QUEUE_PAGE_SIZE, size = 1, selectors.QUEUE_PAGE_SIZE
    try:
        factories.disclosure_request(agency=story.agency, targets=list(
            story.disclosure.targets.all()))
        client = console_client(story.bob)
        first = client.get("/console/requests/?state=any").content.decode()
        assert "Page 1 of 2" in first
        second = client.get("/console/requests/?state=any&page=2").content.decode()
        assert "Page 2 of 2" in second
    finally:
        selectors.QUEUE_PAGE_SIZE = size


def test_the_request_page_shows_scope_document_and_timeline(story: Story) -> None:
    from escrow.log.services import log_sequence

    log_sequence()
    client = console_client(story.dave)
    page = client.get(f"/console/requests/{story.disclosure.pk}/").content.decode()
    for text in (story.disclosure.reference, "Westminster Magistrates", "given_name",
                 bytes(story.disclosure.document_sha256).hex(), "disclosure.review_started"):
        assert text in page
    assert "Your decision" not in page  # dave audits; he does not decide
    indexes = AuditEvent.objects.filter(object_ref=story.disclosure.object_ref).values_list(
        "log_entry__index", flat=True)
    assert all(f"<td>{i}</td>" in page for i in indexes if i is not None)
    assert factories.CANARY["family_name"] not in page  # no identity data

    document = client.get(f"/console/requests/{story.disclosure.pk}/document")
    assert document.content == factories.LEGAL_DOCUMENT
    assert document["Content-Disposition"].startswith("attachment")
    assert AuditEvent.objects.filter(event_type="disclosure.document_read").count() == 1


def test_two_approvals_with_step_up_approve_the_request(story: Story) -> None:
    bob, carol = console_client(story.bob), console_client(story.carol)
    first = _decide(bob, story.bob, story.disclosure)
    assert first.status_code == 302
    assert "1 of 2 needed" in bob.get(first["Location"]).content.decode()
    assert _decide(carol, story.carol, story.disclosure).status_code == 302
    story.disclosure.refresh_from_db()
    assert story.disclosure.state == DisclosureRequest.State.APPROVED
    assert AuditEvent.objects.filter(event_type="staff.stepped_up",
                                     object_ref=story.disclosure.object_ref).count() == 2


def test_a_wrong_or_reused_step_up_code_records_nothing(story: Story) -> None:
    client = console_client(story.bob)
    for code in ("000000", otp_code(story.bob)):  # wrong; the sign-in's own code
        response = _decide(client, story.bob, story.disclosure, code=code)
        assert response.status_code == 403
        assert "Nothing was recorded" in response.content.decode()
    assert not Approval.objects.exists()
    assert AuditEvent.objects.filter(event_type="staff.sign_in_failed").count() == 1


def test_separation_of_duties_is_said_in_words(story: Story) -> None:
    from accounts.roles import Role
    from accounts.services import staff_role_set

    staff_role_set(user=story.alice, role=Role.APPROVER, granted=True)  # alice reviewed it
    client = console_client(story.alice)
    response = _decide(client, story.alice, story.disclosure)
    assert response.status_code == 403
    text = response.content.decode()
    assert "Separation of duties forbids you this" in text
    assert "cannot decide it" in text
    assert not Approval.objects.exists()


def test_a_second_decision_by_the_same_approver_is_refused(story: Story) -> None:
    client = console_client(story.bob)
    assert _decide(client, story.bob, story.disclosure).status_code == 302
    again = _decide(client, story.bob, story.disclosure, code=otp_code(story.bob, drift=2))
    assert again.status_code == 409
    assert "You have already decided this request" in again.content.decode()


def test_rejection_ends_the_request(story: Story) -> None:
    client = console_client(story.bob)
    assert _decide(client, story.bob, story.disclosure, "reject").status_code == 302
    story.disclosure.refresh_from_db()
    assert story.disclosure.state == DisclosureRequest.State.REJECTED


def test_errors_are_pages_in_the_console_and_problems_in_the_api(story: Story) -> None:
    client = console_client(story.frank)  # a custodian: no access to requests
    refused = client.get("/console/requests/")
    assert refused.status_code == 403
    assert refused["Content-Type"].startswith("text/html")
    assert "You cannot open this page" in refused.content.decode()
    missing = console_client(story.dave).get(
        "/console/requests/00000000-0000-0000-0000-000000000002/")
    assert missing.status_code == 404
    assert "Page not found" in missing.content.decode()
    assert client.get("/console/no-such-page").status_code == 404
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api["Content-Type"] == "application/problem+json"


def test_console_pages_carry_a_strict_csp_and_no_inline_script_or_style(story: Story
                                                                        ) -> None:
    response = console_client(story.bob).get(f"/console/requests/{story.disclosure.pk}/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    templates = Path(settings.BASE_DIR, "console", "templates")
    for template in templates.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\ssrc=)", text), template
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=", text), template


def test_an_approver_who_starts_the_review_cannot_then_decide(story: Story) -> None:
    received = factories.disclosure_request(agency=story.agency,
                                            targets=list(story.disclosure.targets.all()))
    client = console_client(story.carol)
    page = client.get(f"/console/requests/{received.pk}/").content.decode()
    assert "Start the review" in page
    started = client.post(f"/console/requests/{received.pk}/review")
    assert started.status_code == 302
    received.refresh_from_db()
    assert received.state == DisclosureRequest.State.IN_REVIEW
    assert received.reviewed_by_id == story.carol.pk
    refused = _decide(client, story.carol, received)
    assert refused.status_code == 403
    assert "Separation of duties forbids you this" in refused.content.decode()
    again = client.post(f"/console/requests/{received.pk}/review")
    assert again.status_code == 409
    assert "present state" in again.content.decode()


def test_an_emergency_is_decided_after_a_recorded_call_back(story: Story) -> None:
    from legal_requests.services.review import disclosure_review_start

    platform, _ = factories.platform_with_key(name="Emergency platform")
    emergency = factories.disclosure_request(
        agency=story.agency, targets=[factories.enrolment(platform)],
        legal_basis="GB-EAW:emergency", fields=("given_name",),
        emergency_facts="A threat to life reported an hour ago.")
    emergency = disclosure_review_start(disclosure=emergency, reviewer=story.alice)
    bob = console_client(story.bob)
    early = _decide(bob, story.bob, emergency)
    assert early.status_code == 409
    assert "The emergency call-back is not recorded yet" in early.content.decode()

    alice = console_client(story.alice)
    page = alice.get(f"/console/requests/{emergency.pk}/").content.decode()
    assert "+442072301212" in page  # the agency's number on file, not the request's
    recorded = alice.post(f"/console/requests/{emergency.pk}/callback",
                          {"method": "phone", "notes": "Duty inspector confirmed."})
    assert recorded.status_code == 302
    assert AuditEvent.objects.filter(event_type="disclosure.callback_verified").count() == 1
    done = _decide(bob, story.bob, emergency, code=otp_code(story.bob, drift=2))
    assert done.status_code == 302
    emergency.refresh_from_db()
    assert emergency.state == DisclosureRequest.State.APPROVED  # one approval suffices


def test_asking_the_agency_for_information_puts_the_request_on_hold(story: Story) -> None:
    client = console_client(story.alice)
    assert client.post(f"/console/requests/{story.disclosure.pk}/information",
                       {"question": ""}).status_code == 400
    asked = client.post(f"/console/requests/{story.disclosure.pk}/information",
                        {"question": "Send the page of the order naming the account."})
    assert asked.status_code == 302
    story.disclosure.refresh_from_db()
    assert story.disclosure.state == DisclosureRequest.State.NEEDS_INFORMATION
    page = client.get(asked["Location"]).content.decode()
    assert "Send the page of the order naming the account." in page
    assert "Not answered yet." in page
    again = client.post(f"/console/requests/{story.disclosure.pk}/information",
                        {"question": "And the court's seal."})
    assert again.status_code == 409


def test_the_403_page_keeps_the_navigation_and_sign_out(story: Story) -> None:
    page = console_client(story.frank).get("/console/requests/").content.decode()
    assert "You cannot open this page" in page
    assert "Sign out" in page
    assert "frank" in page
