"""Transparency reports, computed from the audit log rather than the mutable request rows.

A request counts in the period in which its `disclosure.received` event falls; its
outcome is what the log says happened to it since (up to the latest signed checkpoint).
Refusals at intake and legal holds count in the period of their own events.

Every figure comes from the log entries under the latest signed checkpoint, and from
nothing else: each event's type, object, time and non-personal `details` are read from
its canonical leaf (the bytes the Merkle tree hashes), never from the event row's
copied columns, which nothing verifies. A report can thus be recomputed by anyone
holding the log (an export), with no key, and a rewritten column changes no figure.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from escrow.log.leaf import leaf_time_format
from escrow.log.selectors import LoggedEvent, log_events_matching

OUTCOME_EVENTS = {
    "disclosure.released": "released",
    "disclosure.closed": "released",
    "disclosure.rejected": "rejected",
    "disclosure.withdrawn": "withdrawn",
    "disclosure.expired": "expired",
}
# A request the log shows in none of the outcomes above is still in progress.
OUTCOMES = ("released", "rejected", "withdrawn", "expired", "in_progress")
# A request is decided by its first approval or rejection as the log records it.
DECISION_EVENTS = frozenset(["disclosure.approved", "disclosure.rejected"])


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


# Every event type the report reads; entries are found by these texts inside the
# hashed leaf itself (canonical JSON), never by the copied event_type column.
_NEEDLES = (b'"type":"disclosure.', b'"type":"legal_hold.placed"')
_FOLLOWERS = frozenset([*OUTCOME_EVENTS, "disclosure.approved",
                        "disclosure.retrospective_review_completed",
                        "disclosure.retrospective_review_escalated"])
_IN_PERIOD = frozenset(["disclosure.received", "disclosure.refused_at_intake",
                        "legal_hold.placed"])


@dataclass
class _Logged:
    """The log's events the report reads: those of the period, and what followed."""

    in_period: dict[str, list[LoggedEvent]] = field(default_factory=dict)
    followers: list[LoggedEvent] = field(default_factory=list)


def _logged(start: datetime, end: datetime) -> _Logged:
    """One pass over the signed log; type, object, time and details all from the entry.

    The period is decided by the time inside the entry (its canonical text sorts as
    time does), so rewriting a row's occurred_at moves nothing between periods.
    """
    since, until = leaf_time_format(start), leaf_time_format(end)
    logged = _Logged()
    for event in log_events_matching(needles=_NEEDLES):
        leaf = event.leaf
        if leaf.event_type in _IN_PERIOD and since <= leaf.time < until:
            logged.in_period.setdefault(leaf.event_type, []).append(event)
        if leaf.event_type in _FOLLOWERS:
            logged.followers.append(event)
    return logged


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
    decided_at: dict[str, datetime] = field(default_factory=dict)
    last_event_id: int = 0


def _received(logged: _Logged) -> tuple[dict[str, dict[str, Any]], int]:
    """Each request received in the period (by the entry's object), with its details."""
    received: dict[str, dict[str, Any]] = {}
    last_event_id = 0
    for event in logged.in_period.get("disclosure.received", []):
        received[event.leaf.object_ref] = event.leaf.details
        last_event_id = max(last_event_id, event.id)
    return received, last_event_id


def _followed(logged: _Logged, refs: set[str]) -> _Followed:
    followed = _Followed()
    for event in logged.followers:
        ref, event_type = event.leaf.object_ref, event.leaf.event_type
        if ref not in refs:
            continue
        followed.last_event_id = max(followed.last_event_id, event.id)
        if event_type in DECISION_EVENTS and ref not in followed.decided_at:
            followed.decided_at[ref] = event.leaf.occurred_at  # events come in log order
        if event_type in OUTCOME_EVENTS:
            # Released wins over anything later: data was produced.
            if followed.outcome.get(ref) != "released":
                followed.outcome[ref] = OUTCOME_EVENTS[event_type]
        elif event_type == "disclosure.approved":
            followed.approved.add(ref)
        elif event_type == "disclosure.retrospective_review_completed":
            followed.reviews_completed[ref] = event.leaf.details
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


def _median_hours(spans: list[timedelta]) -> float | None:
    if not spans:
        return None
    return round(statistics.median(s.total_seconds() for s in spans) / 3600, 1)


def _received_at(logged: _Logged) -> dict[str, datetime]:
    """When each request of the period was received, by the time in its entry."""
    times: dict[str, datetime] = {}
    for event in logged.in_period.get("disclosure.received", []):
        times.setdefault(event.leaf.object_ref, event.leaf.occurred_at)
    return times


def _by_month(received_at: dict[str, datetime], received: dict[str, dict[str, Any]],
              followed: _Followed) -> list[dict[str, Any]]:
    """Per calendar month (UTC) of receipt: requests, their outcomes, emergencies, and
    the median hours from receipt to the first decision of those decided."""
    months: dict[str, dict[str, Any]] = {}
    spans: dict[str, list[timedelta]] = {}
    for ref, at in received_at.items():
        month = at.astimezone(UTC).strftime("%Y-%m")
        row = months.setdefault(month, {"month": month, "received": 0, "emergency": 0,
                                        **{name: 0 for name in OUTCOMES}, "decided": 0})
        row["received"] += 1
        row["emergency"] += bool(received[ref].get("emergency"))
        row[followed.outcome.get(ref, "in_progress")] += 1
        if ref in followed.decided_at:
            row["decided"] += 1
            spans.setdefault(month, []).append(followed.decided_at[ref] - at)
    for month, row in months.items():
        row["median_hours_to_decision"] = _median_hours(spans.get(month, []))
    return [months[month] for month in sorted(months)]


def _decisions(received_at: dict[str, datetime], received: dict[str, dict[str, Any]],
               followed: _Followed) -> dict[str, Any]:
    spans = [followed.decided_at[ref] - at for ref, at in received_at.items()
             if ref in followed.decided_at]
    emergencies = sum(bool(details.get("emergency")) for details in received.values())
    return {
        "time_to_decision": {"decided": len(spans), "median_hours": _median_hours(spans)},
        "emergency_share_percent": (
            round(100 * emergencies / len(received), 1) if received else None),
    }


def _counted(
    logged: _Logged, event_type: str, *dimensions: str
) -> tuple[list[Counter[str]], int]:
    """Events of `event_type` in the period, counted by each of the detail `dimensions`."""
    counters: list[Counter[str]] = [Counter() for _ in dimensions]
    last_event_id = 0
    for event in logged.in_period.get(event_type, []):
        for counter, dimension in zip(counters, dimensions, strict=True):
            counter[str(event.leaf.details.get(dimension, ""))] += 1
        last_event_id = max(last_event_id, event.id)
    return counters, last_event_id


def transparency_report(*, period: Period) -> dict[str, Any]:
    logged = _logged(*period.bounds())
    received, received_last_id = _received(logged)
    followed = _followed(logged, set(received))
    received_at = _received_at(logged)
    (refused_reason, refused_jurisdiction), refused_last_id = _counted(
        logged, "disclosure.refused_at_intake", "reason", "jurisdiction"
    )
    (holds,), holds_last_id = _counted(logged, "legal_hold.placed", "jurisdiction")
    last_event_id = max(received_last_id, followed.last_event_id, refused_last_id, holds_last_id)
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "generated_at": timezone.now().isoformat(),
        "source": {"log": "audit events", "last_event_id": last_event_id},
        **_requests_sections(received, followed),
        "by_month": _by_month(received_at, received, followed),
        **_decisions(received_at, received, followed),
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
    key = f"transparency-report:v2:{period.start.isoformat()}:{period.end.isoformat()}"
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
    share = report["emergency_share_percent"]
    writer.writerow(["emergency", "", "share_percent", "" if share is None else share])
    for metric, value in report["time_to_decision"].items():
        writer.writerow(["time_to_decision", "", metric, "" if value is None else value])
    for row in report["by_month"]:
        for metric, value in row.items():
            if metric != "month":
                writer.writerow(["by_month", row["month"], metric, "" if value is None else value])
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
