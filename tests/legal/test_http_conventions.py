"""Every list pages with cursors in Link headers; created resources are named by Location;
filters and paging parameters are validated like any input."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from rest_framework.test import APIClient

from escrow.log.events import Actor, event_record
from legal_requests.models import DisclosureRequest
from tests import factories

pytestmark = pytest.mark.django_db

_LINK = re.compile(r'<([^>]+)>;\s*rel="([a-z]+)"')


def links(response: Any) -> dict[str, str]:
    return {rel: url for url, rel in _LINK.findall(response.get("Link", ""))}


def walk(client: APIClient, url: str, *, ids: Any = None) -> list[Any]:
    """Every item of a list, one page at a time, by following rel="next" only."""
    ids = ids or (lambda body: [item["id"] for item in body])
    seen: list[Any] = []
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        seen += ids(response.json())
        pages += 1
        if pages > 1:
            assert "prev" in links(response) or "after=" in url
        url = links(response).get("next", "")
        assert pages < 500
    return seen


@pytest.fixture
def holds(met: Any, targets: list[Any]) -> list[str]:
    # One POST places three holds in one transaction: equal placed_at is possible, and the
    # cursor must still neither repeat nor skip one.
    response = met.client.post("/api/v1/legal-holds", {
        "pseudonyms": [t.pseudonym for t in targets], "case_reference": "OP-KESTREL-0042",
    }, format="json")
    assert response.status_code == 201, response.content
    return [hold["id"] for hold in response.json()]


@pytest.fixture
def disclosures(met: Any, targets: list[Any]) -> list[str]:
    return [str(factories.disclosure_request(agency=met.agency, targets=targets[:1]).pk)
            for _ in range(3)]


class TestPaging:
    def test_legal_holds_one_at_a_time_reach_every_hold_once(
            self, met: Any, cast: Any, holds: list[str]) -> None:
        for client in (met.client, cast.client("dave")):
            seen = walk(client, "/api/v1/legal-holds?page_size=1")
            assert sorted(seen) == sorted(holds)
            assert len(seen) == len(set(seen))

    def test_disclosure_requests_one_at_a_time_keep_the_filter(
            self, met: Any, cast: Any, disclosures: list[str]) -> None:
        seen = walk(met.client, "/api/v1/disclosure-requests?page_size=1")
        assert seen == list(reversed(disclosures))  # newest first, each once
        staff = walk(cast.client("dave"), "/api/v1/disclosure-requests?page_size=1&state=received")
        assert sorted(staff) == sorted(disclosures)
        first = cast.client("dave").get("/api/v1/disclosure-requests?page_size=1&state=received")
        assert "state=received" in links(first)["next"]
        for client in (met.client, cast.client("dave")):
            # The filter applies to agencies too: an ignored filter would list everything.
            assert walk(client, "/api/v1/disclosure-requests?page_size=1&state=approved") == []

    def test_legal_bases_one_at_a_time(self, met: Any, cast: Any) -> None:
        codes = [b["code"] for b in cast.client("dave").get(
            "/api/v1/legal-bases?page_size=500").json()]
        assert len(codes) > 3
        paged = walk(cast.client("dave"), "/api/v1/legal-bases?page_size=1",
                     ids=lambda body: [b["code"] for b in body])
        assert paged == codes == sorted(codes)
        own = walk(met.client, "/api/v1/legal-bases?page_size=2",
                   ids=lambda body: [b["code"] for b in body])
        assert own
        assert all(code.startswith("GB-EAW:") for code in own)

    def test_audit_events_page_through_link_too(self, cast: Any) -> None:
        for n in range(3):
            event_record(event_type="test.paged", actor=Actor.system("test"),
                         object_ref=f"n:{n}")
        everything = cast.client("dave").get("/api/v1/audit/events?page_size=500").json()
        assert "Link" not in cast.client("dave").get("/api/v1/audit/events?page_size=500")
        paged = walk(cast.client("dave"), "/api/v1/audit/events?page_size=1",
                     ids=lambda body: [e["id"] for e in body["events"]])
        assert paged == [e["id"] for e in everything["events"]]
        assert len(paged) >= 3
        old_name = cast.client("dave").get("/api/v1/audit/events?limit=1").json()
        assert len(old_name["events"]) == 1

    def test_the_last_page_has_no_next_and_the_first_no_prev(
            self, met: Any, holds: list[str]) -> None:
        whole = met.client.get("/api/v1/legal-holds")
        assert len(whole.json()) == 3
        assert links(whole) == {}
        first = met.client.get("/api/v1/legal-holds?page_size=2")
        assert set(links(first)) == {"next"}
        second = met.client.get(links(first)["next"])
        assert set(links(second)) == {"prev"}
        back = met.client.get(links(second)["prev"])
        assert back.json() == first.json()


LISTS = ["/api/v1/legal-holds", "/api/v1/disclosure-requests", "/api/v1/legal-bases",
         "/api/v1/audit/events"]


class TestParametersAreValidated:
    @pytest.mark.parametrize("url", LISTS)
    @pytest.mark.parametrize("query", ["page_size=0", "page_size=501", "page_size=x",
                                       "colour=red", "page_size=1&page_size=2"])
    def test_bad_paging_or_unknown_parameter_is_400(self, cast: Any, url: str,
                                                    query: str) -> None:
        response = cast.client("dave").get(f"{url}?{query}")
        assert response.status_code == 400, (url, query, response.content)
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "validation_error"

    @pytest.mark.parametrize("cursor", [
        "garbage!", "%%%", base64.b64encode(b"p=not-a-date").decode(),
        base64.b64encode(b"o=-1").decode(), base64.b64encode("p=\u00e9".encode()).decode(),
    ])
    def test_a_forged_cursor_is_400_never_500(self, met: Any, holds: list[str],
                                              cursor: str) -> None:
        response = met.client.get("/api/v1/legal-holds", {"cursor": cursor})
        assert response.status_code == 400, response.content
        assert response.json()["errors"][0] == {
            "field": "cursor", "code": "invalid_cursor",
            "message": "Not a cursor from this list's Link header."}

    def test_unknown_state_is_400_for_agencies_and_staff(self, met: Any, cast: Any,
                                                         disclosures: list[str]) -> None:
        for client in (met.client, cast.client("dave")):
            response = client.get("/api/v1/disclosure-requests?state=bogus")
            assert response.status_code == 400
            assert response.json()["errors"][0]["field"] == "state"
        both = cast.client("dave").get(
            "/api/v1/disclosure-requests?state=received&state=approved")
        assert both.status_code == 400
        assert both.json()["errors"] == [
            {"field": "state", "code": "repeated", "message": "Give this parameter once."}]
        for state in DisclosureRequest.State.values:
            assert cast.client("dave").get(
                f"/api/v1/disclosure-requests?state={state}").status_code == 200


class TestLocation:
    def test_a_hold_is_created_where_location_says(self, met: Any,
                                                   targets: list[Any]) -> None:
        placed = met.client.post("/api/v1/legal-holds", {
            "pseudonyms": [targets[1].pseudonym, targets[0].pseudonym],
            "case_reference": "OP-3"}, format="json")
        assert placed.status_code == 201
        assert placed["Location"] == f"/api/v1/legal-holds/{placed.json()[0]['id']}"
        fetched = met.client.get(placed["Location"])
        assert fetched.status_code == 200
        assert fetched.json() == placed.json()[0]
        assert fetched.json()["pseudonym"] == targets[1].pseudonym

    def test_a_disclosure_request_is_created_where_location_says(
            self, met: Any, targets: list[Any]) -> None:
        filed = met.client.post("/api/v1/disclosure-requests",
                                factories.disclosure_payload(targets=[targets[0].pseudonym]),
                                format="json")
        assert filed.status_code == 201, filed.content
        fetched = met.client.get(filed["Location"])
        assert fetched.status_code == 200
        assert fetched.json()["id"] == filed.json()["id"]


class TestTheTransparencyReportRevalidates:
    def test_a_matching_etag_is_304_per_format(self, db: Any, settings: Any) -> None:
        settings.TRANSPARENCY_REPORT_CACHE_SECONDS = 300
        http = APIClient()
        report = http.get("/api/v1/transparency-reports?year=2026")
        assert report.status_code == 200
        assert report["Cache-Control"] == "public, max-age=300"
        again = http.get("/api/v1/transparency-reports?year=2026",
                         HTTP_IF_NONE_MATCH=report["ETag"])
        assert again.status_code == 304
        assert again.content == b""
        csv = http.get("/api/v1/transparency-reports?year=2026", HTTP_ACCEPT="text/csv",
                       HTTP_IF_NONE_MATCH=report["ETag"])
        assert csv.status_code == 200  # another representation, another tag
        assert csv["ETag"] != report["ETag"]

    def test_a_report_kept_to_auditors_is_private(self, cast: Any, settings: Any) -> None:
        settings.TRANSPARENCY_REPORTS_PUBLIC = False
        settings.TRANSPARENCY_REPORT_CACHE_SECONDS = 300
        report = cast.client("dave").get("/api/v1/transparency-reports")
        assert report.status_code == 200
        assert report["Cache-Control"] == "private, max-age=300"
