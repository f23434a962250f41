"""Transparency reports, computed from the audit log rather than the mutable request rows.

A request counts in the period in which its `disclosure.received` event falls; its
outcome is what the log says happened to it since (up to the moment of the report).
Refusals at intake and legal holds count in the period of their own events. Only the
non-personal `details` of each entry are read: a report can be recomputed by anyone
holding the log, with no key.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from escrow.log.models import AuditEvent

OUTCOME_EVENTS = {
    "disclosure.released": "released",
    "disclosure.closed": "released",
    "disclosure.rejected": "rejected",
    "disclosure.withdrawn": "withdrawn",
    "disclosure.expired": "expired",
}
# A request the log shows in none of the outcomes above is still in progress.
OUTCOMES = ("released", "rejected", "withdrawn", "expired", "in_progress")
_CHUNK = 500


@dataclass(frozen=True)
class Period:
    start: date  # inclusive
    end: date  # inclusive

    @classmethod
    def half_year(cls, year: int, half: int) -> Period:
        if half == 1:
            return cls(date(year, 1, 1), date(year, 6, 30))
        return cls(date(year, 7, 1), date(year, 12, 31))

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(date(year, 1, 1), date(year, 12, 31))

    def bounds(self) -> tuple[datetime, datetime]:
        return (
            datetime.combine(self.start, time.min, tzinfo=UTC),
            datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC),
        )


def _details(event: AuditEvent) -> dict[str, Any]:
    details = json.loads(bytes(event.entry)).get("details") or {}
    return details if isinstance(details, dict) else {}


def _events(event_types: list[str], start: datetime, end: datetime) -> Iterator[AuditEvent]:
    return (
        AuditEvent.objects.filter(
            event_type__in=event_types, occurred_at__gte=start, occurred_at__lt=end
        )
        .only("id", "event_type", "object_ref", "entry", "occurred_at")
        .order_by("id")
        .iterator(chunk_size=_CHUNK)
    )


def _later_events(object_refs: list[str], event_types: list[str]) -> Iterator[AuditEvent]:
    for i in range(0, len(object_refs), _CHUNK):
        yield from AuditEvent.objects.filter(
            object_ref__in=object_refs[i:i + _CHUNK], event_type__in=event_types
        ).only("id", "event_type", "object_ref", "entry").order_by("id")


def _rows(counter: Counter[Any], *names: str) -> list[dict[str, Any]]:
    rows = []
    for key, count in sorted(counter.items()):
        values = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(names, values, strict=True)), "count": count})
    return rows


@dataclass
class _Followed:
    """What the log says happened to a period's requests after they were received."""

    outcome: dict[str, str] = field(default_factory=dict)
    approved: set[str] = field(default_factory=set)
    reviews_completed: dict[str, dict[str, Any]] = field(default_factory=dict)
    escalated: set[str] = field(default_factory=set)
    last_event_id: int = 0


def _received(start: datetime, end: datetime) -> tuple[dict[str, dict[str, Any]], int]:
    """Each request received in the period (by object_ref), with its `received` details."""
    received: dict[str, dict[str, Any]] = {}
    last_event_id = 0
    for event in _events(["disclosure.received"], start, end):
        received[event.object_ref] = _details(event)
        last_event_id = max(last_event_id, event.id)
    return received, last_event_id


def _followed(refs: list[str]) -> _Followed:
    followed = _Followed()
    followers = [*OUTCOME_EVENTS, "disclosure.approved",
                 "disclosure.retrospective_review_completed",
                 "disclosure.retrospective_review_escalated"]
    for event in _later_events(refs, followers):
        followed.last_event_id = max(followed.last_event_id, event.id)
        ref = event.object_ref
        if event.event_type in OUTCOME_EVENTS:
            # Released wins over anything later: data was produced.
            if followed.outcome.get(ref) != "released":
                followed.outcome[ref] = OUTCOME_EVENTS[event.event_type]
        elif event.event_type == "disclosure.approved":
            followed.approved.add(ref)
        elif event.event_type == "disclosure.retrospective_review_completed":
            followed.reviews_completed[ref] = _details(event)
        else:
            followed.escalated.add(ref)
    return followed


def _by_legal_basis(by_basis: Counter[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """One row per (legal basis, jurisdiction): received, and how many ended each way."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for (basis, jurisdiction, result), count in sorted(by_basis.items()):
        row = rows.setdefault(
            (basis, jurisdiction),
            {"legal_basis": basis, "jurisdiction": jurisdiction, "received": 0,
             **{name: 0 for name in OUTCOMES}},
        )
        row["received"] += count
        row[result] += count
    return list(rows.values())


def _emergency(emergency_refs: list[str], followed: _Followed) -> dict[str, int]:
    completed = [
        followed.reviews_completed[r] for r in emergency_refs if r in followed.reviews_completed
    ]
    return {
        "requests": len(emergency_refs),
        "approved": sum(r in followed.approved for r in emergency_refs),
        "reviews_completed": len(completed),
        "reviews_upheld": sum(bool(d.get("upheld")) for d in completed),
        "reviews_not_upheld": sum(not d.get("upheld") for d in completed),
        "reviews_late": sum(bool(d.get("late")) for d in completed),
        "reviews_escalated": sum(r in followed.escalated for r in emergency_refs),
    }


def _requests_sections(
    received: dict[str, dict[str, Any]], followed: _Followed
) -> dict[str, Any]:
    """The report's sections about requests received in the period."""
    by_basis: Counter[tuple[str, str, str]] = Counter()
    by_jurisdiction: Counter[str] = Counter()
    by_outcome: Counter[str] = Counter({name: 0 for name in OUTCOMES})
    accounts = nondisclosure = released = 0
    emergency_refs = []
    for ref, details in received.items():
        result = followed.outcome.get(ref, "in_progress")
        by_outcome[result] += 1
        by_basis[(str(details.get("legal_basis", "")), str(details.get("jurisdiction", "")),
                  result)] += 1
        by_jurisdiction[str(details.get("jurisdiction", ""))] += 1
        accounts += int(details.get("target_count", 0))
        nondisclosure += bool(details.get("nondisclosure"))
        released += result == "released"
        if details.get("emergency"):
            emergency_refs.append(ref)
    total = len(received)
    return {
        "requests": {
            "received": total,
            "accounts_specified": accounts,
            "data_produced": released,
            "data_produced_percent": round(100 * released / total, 1) if total else None,
            "nondisclosure_orders": nondisclosure,
        },
        "by_outcome": dict(by_outcome),
        "by_legal_basis": _by_legal_basis(by_basis),
        "by_jurisdiction": _rows(by_jurisdiction, "jurisdiction"),
        "emergency": _emergency(emergency_refs, followed),
    }


def _counted(
    event_type: str, start: datetime, end: datetime, *dimensions: str
) -> tuple[list[Counter[str]], int]:
    """Events of `event_type` in the period, counted by each of the detail `dimensions`."""
    counters: list[Counter[str]] = [Counter() for _ in dimensions]
    last_event_id = 0
    for event in _events([event_type], start, end):
        details = _details(event)
        for counter, dimension in zip(counters, dimensions, strict=True):
            counter[str(details.get(dimension, ""))] += 1
        last_event_id = max(last_event_id, event.id)
    return counters, last_event_id


def transparency_report(*, period: Period) -> dict[str, Any]:
    start, end = period.bounds()
    received, received_last_id = _received(start, end)
    followed = _followed(list(received))
    (refused_reason, refused_jurisdiction), refused_last_id = _counted(
        "disclosure.refused_at_intake", start, end, "reason", "jurisdiction"
    )
    (holds,), holds_last_id = _counted("legal_hold.placed", start, end, "jurisdiction")
    last_event_id = max(received_last_id, followed.last_event_id, refused_last_id, holds_last_id)
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "generated_at": timezone.now().isoformat(),
        "source": {"log": "audit events", "last_event_id": last_event_id},
        **_requests_sections(received, followed),
        "refused_at_intake": {
            "total": sum(refused_reason.values()),
            "by_reason": _rows(refused_reason, "reason"),
            "by_jurisdiction": _rows(refused_jurisdiction, "jurisdiction"),
        },
        "legal_holds_placed": {
            "total": sum(holds.values()),
            "by_jurisdiction": _rows(holds, "jurisdiction"),
        },
    }


def transparency_report_cached(*, period: Period) -> dict[str, Any]:
    """The report, recomputed at most every TRANSPARENCY_REPORT_CACHE_SECONDS per period.

    The endpoint is public: without this, each anonymous call would rescan the period's log.
    """
    ttl = settings.TRANSPARENCY_REPORT_CACHE_SECONDS
    if ttl <= 0:
        return transparency_report(period=period)
    key = f"transparency-report:v1:{period.start.isoformat()}:{period.end.isoformat()}"
    report = cache.get(key)
    if report is None:
        report = transparency_report(period=period)
        cache.set(key, report, ttl)
    return report


def transparency_report_csv(report: dict[str, Any]) -> str:
    """The same figures, one per row: `section,dimension,metric,value`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "dimension", "metric", "value"])
    writer.writerow(["period", "", "from", report["period"]["from"]])
    writer.writerow(["period", "", "to", report["period"]["to"]])
    for metric, value in report["requests"].items():
        writer.writerow(["requests", "", metric, "" if value is None else value])
    for metric, value in report["by_outcome"].items():
        writer.writerow(["by_outcome", "", metric, value])
    for row in report["by_legal_basis"]:
        dimension = f"{row['legal_basis']}"
        for metric in ("received", *OUTCOMES):
            writer.writerow(["by_legal_basis", dimension, metric, row[metric]])
    for row in report["by_jurisdiction"]:
        writer.writerow(["by_jurisdiction", row["jurisdiction"], "received", row["count"]])
    for metric, value in report["emergency"].items():
        writer.writerow(["emergency", "", metric, value])
    refused = report["refused_at_intake"]
    writer.writerow(["refused_at_intake", "", "total", refused["total"]])
    for row in refused["by_reason"]:
        writer.writerow(["refused_at_intake", f"reason={row['reason']}", "count", row["count"]])
    for row in refused["by_jurisdiction"]:
        writer.writerow(
            ["refused_at_intake", f"jurisdiction={row['jurisdiction']}", "count", row["count"]]
        )
    holds = report["legal_holds_placed"]
    writer.writerow(["legal_holds_placed", "", "total", holds["total"]])
    for row in holds["by_jurisdiction"]:
        writer.writerow(
            ["legal_holds_placed", f"jurisdiction={row['jurisdiction']}", "count", row["count"]]
        )
    return out.getvalue()
