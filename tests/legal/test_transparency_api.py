"""Transparency reports are computed from the audit log and published as JSON and CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from escrow.log.models import AuditEvent
from escrow.log.services import log_sequence
from legal_requests import tasks
from legal_requests.models import DisclosureRequest
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/api/v1/transparency-reports"
DR = "/api/v1/disclosure-requests"


def _period() -> dict[str, int]:
    today = timezone.now().date()
    return {"year": today.year, "half": 1 if today.month <= 6 else 2}


@pytest.fixture
def history(cast: Any, met: Any, fbi: Any, targets: list[Any]) -> dict[str, Any]:
    """Five requests with different fates, one refusal and one hold."""
    rejected = factories.disclosure_request(agency=met.agency, targets=targets[:2])
    withdrawn = factories.disclosure_request(agency=fbi.agency, targets=[targets[0]],
                                             legal_basis="US:subpoena")
    expired = factories.disclosure_request(agency=met.agency, targets=[targets[1]])
    emergency = factories.disclosure_request(agency=met.agency, targets=[targets[2]],
                                             legal_basis="GB-EAW:emergency",
                                             emergency_facts="Threat to life.")
    pending = factories.disclosure_request(agency=met.agency, targets=[targets[0]])
    alice, bob = cast.client("alice"), cast.client("bob")
    alice.post(f"{DR}/{rejected.pk}/review")
    bob.post(f"{DR}/{rejected.pk}/reject", {"reason": "Out of scope"}, format="json")
    fbi.client.post(f"{DR}/{withdrawn.pk}/withdraw", {}, format="json")
    DisclosureRequest.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    tasks.expire_due_requests()
    alice.post(f"{DR}/{emergency.pk}/review")
    alice.post(f"{DR}/{emergency.pk}/callback-verification", {"method": "phone"}, format="json")
    bob.post(f"{DR}/{emergency.pk}/approve", {"reason": "x"}, format="json")
    DisclosureRequest.objects.filter(pk=emergency.pk).update(
        review_due_at=timezone.now() - timedelta(seconds=1))
    tasks.escalate_overdue_reviews()
    _, key = factories.agency_with_key(name="Police Scotland", jurisdiction="GB-SCT",
                                       enabled=False)
    from tests.legal.conftest import key_client

    key_client(key).post(DR, factories.disclosure_payload(
        targets=[targets[0].pseudonym], legal_basis="GB-SCT:production-order"), format="json")
    met.client.post("/api/v1/legal-holds", {"pseudonyms": [targets[0].pseudonym],
                                            "case_reference": "x"}, format="json")
    log_sequence()  # the report counts only what the signed log holds
    return {"pending": pending, "emergency": emergency}


def test_the_report_counts_from_the_log(history: dict[str, Any]) -> None:
    response = APIClient().get(URL, _period())
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["requests"] == {
        "received": 5, "accounts_specified": 6, "data_produced": 0,
        "data_produced_percent": 0.0, "nondisclosure_orders": 0,
    }
    assert report["by_outcome"] == {"released": 0, "rejected": 1, "withdrawn": 1, "expired": 1,
                                    "in_progress": 2}
    assert report["by_jurisdiction"] == [{"jurisdiction": "GB-EAW", "count": 4},
                                         {"jurisdiction": "US", "count": 1}]
    production = next(r for r in report["by_legal_basis"]
                      if r["legal_basis"] == "GB-EAW:production-order")
    assert production == {"legal_basis": "GB-EAW:production-order", "jurisdiction": "GB-EAW",
                          "received": 3, "released": 0, "rejected": 1, "withdrawn": 0,
                          "expired": 1, "in_progress": 1}
    assert report["emergency"] == {"requests": 1, "approved": 1, "reviews_completed": 0,
                                   "reviews_upheld": 0, "reviews_not_upheld": 0,
                                   "reviews_late": 0, "reviews_escalated": 1}
    assert report["refused_at_intake"] == {
        "total": 1, "by_reason": [{"reason": "jurisdiction_not_enabled", "count": 1}],
        "by_jurisdiction": [{"jurisdiction": "GB-SCT", "count": 1}]}
    assert report["legal_holds_placed"]["total"] == 1
    assert report["source"]["last_event_id"] <= AuditEvent.objects.latest("id").id


def test_the_log_not_the_rows_is_the_source(history: dict[str, Any]) -> None:
    # Rewriting a row behind the log's back does not change the published figures.
    DisclosureRequest.objects.filter(pk=history["pending"].pk).delete()
    report = APIClient().get(URL, _period()).json()
    assert report["requests"]["received"] == 5


def test_a_released_request_counts_as_data_produced(cast: Any, history: dict[str, Any]) -> None:
    from django.db import transaction

    from escrow.log.events import Actor
    from legal_requests.services import workflow

    emergency = DisclosureRequest.objects.get(pk=history["emergency"].pk)
    with transaction.atomic():
        locked = DisclosureRequest.objects.select_for_update().get(pk=emergency.pk)
        workflow.begin_release(locked, actor=Actor.system("test"))
        workflow.mark_released(locked, actor=Actor.system("test"))
        workflow.close(locked, actor=Actor.system("test"))
    log_sequence()
    report = APIClient().get(URL, _period()).json()
    assert report["requests"]["data_produced"] == 1
    assert report["requests"]["data_produced_percent"] == 20.0
    assert report["by_outcome"]["released"] == 1


def test_csv_and_periods(history: dict[str, Any]) -> None:
    response = APIClient().get(URL, {**_period(), "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["section", "dimension", "metric", "value"]
    assert ["requests", "", "received", "5"] in rows
    assert ["refused_at_intake", "reason=jurisdiction_not_enabled", "count", "1"] in rows
    accepted = APIClient().get(URL, _period(), HTTP_ACCEPT="text/csv")
    assert accepted["Content-Type"].startswith("text/csv")
    # A period with nothing in it.
    empty = APIClient().get(URL, {"from": "2020-01-01", "to": "2020-12-31"}).json()
    assert empty["requests"]["received"] == 0
    assert empty["requests"]["data_produced_percent"] is None
    assert empty["period"] == {"from": "2020-01-01", "to": "2020-12-31"}


@pytest.mark.parametrize("params", [{"half": 2}, {"year": 2026, "from": "2026-01-01"},
                                    {"from": "2026-02-01", "to": "2026-01-01"},
                                    {"year": "soon"}, {"year": 2026, "half": 3}])
def test_bad_periods_are_400(db: Any, params: dict[str, Any]) -> None:
    response = APIClient().get(URL, params)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_the_operator_can_restrict_reports_to_auditors(cast: Any, settings: Any) -> None:
    settings.TRANSPARENCY_REPORTS_PUBLIC = False
    assert APIClient().get(URL).status_code == 401
    assert cast.client("bob").get(URL).status_code == 403
    assert cast.client("dave").get(URL).status_code == 200


def test_reports_are_cached_per_period(cast: Any, met: Any, targets: list[Any],
                                       settings: Any) -> None:
    settings.TRANSPARENCY_REPORT_CACHE_SECONDS = 300
    from django.core.cache import cache

    day = timezone.now().date()
    period = {"from": day.isoformat(), "to": day.isoformat()}
    cache.delete(f"transparency-report:v1:{day.isoformat()}:{day.isoformat()}")
    first = APIClient().get(URL, period).json()
    factories.disclosure_request(agency=met.agency, targets=[targets[0]])
    log_sequence()
    assert APIClient().get(URL, period).json() == first  # served from the cache
    settings.TRANSPARENCY_REPORT_CACHE_SECONDS = 0
    assert APIClient().get(URL, period).json()["requests"]["received"] == (
        first["requests"]["received"] + 1)


def test_months_decisions_and_emergency_share(history: dict[str, Any]) -> None:
    report = APIClient().get(URL, _period()).json()
    month = timezone.now().strftime("%Y-%m")
    assert [row["month"] for row in report["by_month"]] == [month]
    row = report["by_month"][0]
    # The rejection and the emergency approval are the two decisions.
    assert {k: v for k, v in row.items() if k != "median_hours_to_decision"} == {
        "month": month, "received": 5, "emergency": 1, "released": 0, "rejected": 1,
        "withdrawn": 1, "expired": 1, "in_progress": 2, "decided": 2}
    assert 0 <= row["median_hours_to_decision"] < 1
    assert report["time_to_decision"]["decided"] == 2
    assert report["emergency_share_percent"] == 20.0
    rows = list(csv.reader(io.StringIO(APIClient().get(URL, {**_period(), "format": "csv"})
                                       .content.decode())))
    assert ["by_month", month, "received", "5"] in rows
    assert ["emergency", "", "share_percent", "20.0"] in rows


def test_median_time_to_decision_in_hours() -> None:
    from legal_requests.services.transparency import _median_hours

    assert _median_hours([]) is None
    assert _median_hours([timedelta(hours=1), timedelta(hours=5), timedelta(hours=30)]) == 5.0
    assert _median_hours([timedelta(minutes=30), timedelta(hours=2)]) == 1.2  # 1.25, rounded
