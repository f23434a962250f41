"""Auditors' pages (the event log, an event's proof page, the report) and the public pages
(transparency report, the log's key and checkpoint), with Django's test client."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from django.test import Client

from escrow.log.keys import log_identity
from escrow.log.models import AuditEvent, LogCheckpoint
from escrow.log.services import log_sequence
from tests.console.conftest import Story, console_client

pytestmark = pytest.mark.django_db

AUDITOR_PAGES = ["/console/audit/events/", "/console/audit/transparency"]


def _proof_data(page: str) -> dict[str, Any]:
    found = re.search(r'<script id="proof-data" type="application/json">(.*?)</script>', page, re.S)
    assert found, "the page carries the proof check's data"
    return dict(json.loads(found.group(1)))


def test_the_event_log_shows_each_event_with_its_log_index(story: Story) -> None:
    log_sequence()
    received = AuditEvent.objects.get(event_type="disclosure.received")
    page = console_client(story.dave).get("/console/audit/events/").content.decode()
    assert "disclosure.received" in page
    assert f'href="/console/audit/events/{received.pk}/"' in page
    index = received.log_entry.index
    assert re.search(rf"<td>{index}</td>", page)


def test_the_event_log_filters_by_type_object_and_time(story: Story) -> None:
    client = console_client(story.dave)
    ref = story.disclosure.object_ref
    page = client.get("/console/audit/events/", {"event_type": "disclosure.review_started"})
    text = page.content.decode()
    assert page.status_code == 200
    assert "<code>disclosure.review_started</code>" in text
    assert "<code>disclosure.received</code>" not in text
    by_object = client.get("/console/audit/events/", {"object_ref": ref}).content.decode()
    assert "<code>disclosure.received</code>" in by_object
    assert "<code>staff.signed_in</code>" not in by_object
    old = client.get("/console/audit/events/", {"until": "2020-01-01"}).content.decode()
    assert "No event matches." in old
    bad = client.get("/console/audit/events/", {"since": "2026-02-01", "until": "2026-01-01"})
    assert bad.status_code == 400
    assert "The end of the range is before its start." in bad.content.decode()


def test_the_event_log_pages(story: Story, monkeypatch: pytest.MonkeyPatch) -> None:
    from console.views import audit

    monkeypatch.setattr(audit, "EVENTS_PAGE_SIZE", 2)
    client = console_client(story.dave)
    first = client.get("/console/audit/events/").content.decode()
    ids = [int(i) for i in re.findall(r'href="/console/audit/events/(\d+)/"', first)]
    assert len(ids) == 2
    after = re.search(r'href="\?after=(\d+)" rel="next"', first)
    assert after is not None
    second = client.get("/console/audit/events/", {"after": after.group(1)}).content.decode()
    later = [int(i) for i in re.findall(r'href="/console/audit/events/(\d+)/"', second)]
    assert later
    assert min(later) > max(ids)
    assert "First page" in second


def test_the_proof_page_sends_the_entry_not_a_proof(story: Story) -> None:
    log_sequence()
    event = AuditEvent.objects.get(event_type="disclosure.received")
    response = console_client(story.dave).get(f"/console/audit/events/{event.pk}/")
    assert response.status_code == 200
    data = _proof_data(response.content.decode())
    assert base64.b64decode(data["entry"]) == bytes(event.entry)
    assert data["log_index"] == event.log_entry.index
    assert data["log_base"] == "/log/"
    assert data["earlier_checkpoint"] is None
    assert set(data) == {"event_id", "log_index", "entry", "origin", "log_base",
                         "earlier_checkpoint"}  # no proof, no root: the browser computes them


def test_the_proof_page_hands_over_the_earlier_checkpoint_picked(story: Story) -> None:
    log_sequence()
    earlier = LogCheckpoint.objects.order_by("tree_size").first()
    assert earlier is not None
    client = console_client(story.dave)
    event = AuditEvent.objects.order_by("pk").first()
    assert event is not None
    page = client.get(f"/console/audit/events/{event.pk}/", {"since": earlier.tree_size})
    assert _proof_data(page.content.decode())["earlier_checkpoint"] == earlier.note
    unknown = client.get(f"/console/audit/events/{event.pk}/", {"since": 10**9})
    assert unknown.status_code == 400
    assert "The log signed no checkpoint of that size." in unknown.content.decode()
    missing = client.get("/console/audit/events/999999999/")
    assert missing.status_code == 404
    assert missing["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("url", [*AUDITOR_PAGES, "/console/audit/events/1/"])
def test_other_roles_get_the_403_page(story: Story, url: str) -> None:
    for person in (story.alice, story.bob, story.frank):
        response = console_client(person).get(url)
        assert response.status_code == 403
        assert response["Content-Type"].startswith("text/html")
        assert "<html" in response.content.decode()
    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/console/sign-in")


def test_the_public_transparency_page_for_anyone(story: Story) -> None:
    log_sequence()
    response = Client().get("/transparency/")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<canvas id="chart-months"' in page
    assert "Requests per month of receipt, by outcome" in page  # the table's caption
    data = json.loads(re.search(
        r'<script id="transparency-data" type="application/json">(.*?)</script>', page,
        re.S).group(1))  # type: ignore[union-attr]
    assert data["received"] == 1
    assert data["by_month"][0]["received"] == 1
    assert "/api/v1/transparency-reports?from=" in page
    assert Client().get("/transparency/", {"year": "1999"}).status_code == 400
    whole_year = Client().get("/transparency/", {"year": "2025", "half": "0"})
    assert "From 2025-01-01 to 2025-12-31" in whole_year.content.decode()


def test_the_public_report_follows_the_operators_choice(db: Any, settings: Any) -> None:
    settings.TRANSPARENCY_REPORTS_PUBLIC = False
    response = Client().get("/transparency/")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


def test_the_log_key_page_shows_the_key_and_checkpoint(story: Story) -> None:
    log_sequence()
    page = Client().get("/transparency/log").content.decode()
    latest = LogCheckpoint.objects.order_by("-tree_size").first()
    assert latest is not None
    assert log_identity().verifier_key in page
    assert latest.note.split("\n")[2] in page  # the root hash line
    assert "golang.org/x/mod/sumdb" in page
    sign_in = Client().get("/console/sign-in").content.decode()
    assert 'href="/transparency/"' in sign_in
    assert 'href="/transparency/log"' in sign_in


def test_the_auditors_report_has_the_charts_and_the_refusals(story: Story) -> None:
    log_sequence()
    response = console_client(story.dave).get("/console/audit/transparency")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<canvas id="chart-bases"' in page
    assert "Requests refused at intake, by reason" in page
    assert "/static/console/vendor/chartjs/chart.umd.min.js" in page
