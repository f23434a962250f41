"""Published figures come from the log: a rewritten copied column is never published.

An audit event's row keeps copies of its entry's fields (type, object, time, actor,
platform, commitment) for indexes. Nothing hashes those copies. Here a database
superuser rewrites each of them, with the append-only triggers switched off
(`session_replication_role = replica`, as such an attacker could), on a release event
and on other events, and we show for each column that the transparency report and
the auditor API publish exactly what they did before, and that `audit_verify` names
the exact log index of every row whose copy differs from its entry.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from escrow.log.events import Actor
from escrow.log.models import AuditEvent, LogEntry
from escrow.log.services import log_sequence
from legal_requests.models import DisclosureRequest
from legal_requests.services import workflow
from legal_requests.services.transparency import Period, transparency_report
from tests import factories
from tests.legal.test_transparency_api import history  # noqa: F401  (a fixture)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="the superuser's rewrite goes around PostgreSQL's triggers"),
]
EVENTS = "/api/v1/audit/events"


@pytest.fixture
def released_log(cast: Any, history: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    """The transparency history plus a request that was released, all in the signed log."""
    emergency = DisclosureRequest.objects.get(pk=history["emergency"].pk)
    with transaction.atomic():
        locked = DisclosureRequest.objects.select_for_update().get(pk=emergency.pk)
        workflow.begin_release(locked, actor=Actor.system("test"))
        workflow.mark_released(locked, actor=Actor.system("test"))
        workflow.close(locked, actor=Actor.system("test"))
    log_sequence()
    assert not AuditEvent.objects.filter(log_entry__isnull=True).exists()

    def event(event_type: str, **where: Any) -> AuditEvent:
        return AuditEvent.objects.filter(event_type=event_type, **where).latest("id")

    released = event("disclosure.released", object_ref=emergency.object_ref)
    return {
        "release": released,
        "released_ref": emergency.object_ref,
        # Other events the report and the auditor list read.
        "others": [
            event("disclosure.received", object_ref=emergency.object_ref),
            event("disclosure.withdrawn"),
            event("legal_hold.placed"),
            event("disclosure.refused_at_intake"),
        ],
        "pending_ref": DisclosureRequest.objects.get(pk=history["pending"].pk).object_ref,
    }


def _period() -> Period:
    today = timezone.now().date()
    return Period.half_year(today.year, 1 if today.month <= 6 else 2)


def _report() -> dict[str, Any]:
    report = transparency_report(period=_period())
    report.pop("generated_at")
    return report


def _all_events(client: Any, **filters: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = None
    while True:
        params = {**filters, "limit": 7, **({"after": after} if after is not None else {})}
        response = client.get(EVENTS, params)
        assert response.status_code == 200, response.content
        events += response.json()["events"]
        after = response.json()["next_after"]
        if after is None:
            return events


def _auditor_views(dave: Any, released: AuditEvent, released_ref: str) -> dict[str, Any]:
    moment = datetime.fromisoformat(_all_events(dave)[0]["occurred_at"])
    return {
        "all": _all_events(dave),
        "by_type": _all_events(dave, event_type="disclosure.released"),
        "withdrawn": _all_events(dave, event_type="disclosure.withdrawn"),
        "by_object": _all_events(dave, object_ref=released_ref),
        "by_actor": _all_events(dave, actor_kind="system"),
        "in_window": _all_events(dave, occurred_after=(moment - timedelta(minutes=5)).isoformat(),
                                 occurred_before=(moment + timedelta(hours=1)).isoformat()),
        "detail": dave.get(f"{EVENTS}/{released.pk}").json(),
    }


def _index(event: AuditEvent) -> int:
    return LogEntry.objects.get(event_id=event.pk).index


def _rewrite_as_superuser(events: list[AuditEvent], column: str, values: list[Any]) -> None:
    """UPDATE the rows with the append-only triggers off, as a database superuser can."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    name = connection.ops.quote_name(column)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            for event, value in zip(events, values, strict=True):
                cursor.execute(f"UPDATE {table} SET {name} = %s WHERE id = %s",  # noqa: S608  # nosec B608
                               [value, event.pk])
        finally:
            cursor.execute("SET session_replication_role = origin")
    # The triggers are back for everyone else.
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017, PT011
        AuditEvent.objects.filter(pk=events[0].pk).update(actor_role="again")


def _verify_problems() -> tuple[int, set[int]]:
    """(the index audit_verify fails at, every index it names) — it must fail."""
    stderr = io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("audit_verify", stdout=io.StringIO(), stderr=stderr)
    assert failure.value.returncode == 1
    first = int(str(failure.value).split("FAILED at index ")[1].split(":")[0])
    named = {int(line.split("index ")[1].split(":")[0])
             for line in stderr.getvalue().splitlines() if "copied" in line}
    return first, named


def _tampered_values(column: str, log: dict[str, Any], victims: list[AuditEvent]) -> list[Any]:
    """What the attacker writes into each victim's column: each one aimed at a figure."""
    count = len(victims)
    if column == "event_type":
        # The release becomes a withdrawal; the others become things the report counts.
        return ["disclosure.withdrawn", "disclosure.refused_at_intake", "disclosure.released",
                "disclosure.received", "legal_hold.placed"][:count]
    if column == "object_ref":
        return [log["pending_ref"]] * count
    if column == "occurred_at":
        return [datetime(2001, 1, 1, tzinfo=UTC)] * count
    if column == "actor_kind":
        return ["platform"] * count
    if column == "actor_ref":
        return ["someone-else"] * count
    if column == "actor_role":
        return ["approver"] * count
    if column == "commitment":
        return [bytes(range(32))] * count
    raise AssertionError(column)


# Every column of AuditEvent copied from (or standing beside) the hashed entry.
COPIED_COLUMNS = ["event_type", "object_ref", "occurred_at", "actor_kind", "actor_ref",
                  "actor_role", "commitment"]


def test_an_untampered_log_verifies_with_its_copied_columns(released_log: dict[str, Any]) -> None:
    call_command("audit_verify", stdout=io.StringIO())


@pytest.mark.parametrize("column", COPIED_COLUMNS)
def test_a_rewritten_copied_column_is_never_published_and_audit_verify_names_its_index(
    cast: Any, released_log: dict[str, Any], column: str
) -> None:
    dave = cast.client("dave")
    release = released_log["release"]
    victims = [release, *released_log["others"]]
    report_before = _report()
    views_before = _auditor_views(dave, release, released_log["released_ref"])
    assert report_before["by_outcome"]["released"] == 1  # the release is counted

    _rewrite_as_superuser(victims, column, _tampered_values(column, released_log, victims))

    assert _report() == report_before
    assert _auditor_views(dave, release, released_log["released_ref"]) == views_before
    first, named = _verify_problems()
    indexes = {_index(v) for v in victims}
    assert named == indexes
    assert first == min(indexes)


def test_the_platform_column_is_in_no_entry_and_in_no_published_figure(
    cast: Any, released_log: dict[str, Any]
) -> None:
    # The entry does not carry the platform (it names the actor instead), so no
    # verifier can check the column: instead nothing published reads it.
    dave = cast.client("dave")
    elsewhere, _ = factories.platform_with_key(name="Elsewhere")
    release = released_log["release"]
    victims = [release, *released_log["others"]]
    report_before = _report()
    views_before = _auditor_views(dave, release, released_log["released_ref"])

    _rewrite_as_superuser(victims, "platform_id", [elsewhere.pk] * len(victims))

    assert _report() == report_before
    assert _auditor_views(dave, release, released_log["released_ref"]) == views_before


def test_the_report_counts_a_release_by_its_entry_even_if_its_row_says_withdrawn(
    released_log: dict[str, Any]
) -> None:
    # The finding as reported: a release's event_type rewritten to withdrawn.
    _rewrite_as_superuser([released_log["release"]], "event_type", ["disclosure.withdrawn"])
    report = _report()
    assert report["by_outcome"]["released"] == 1
    assert report["by_outcome"]["withdrawn"] == 1  # the one real withdrawal only
    assert report["requests"]["data_produced"] == 1
    assert _verify_problems()[0] == _index(released_log["release"])


def test_the_report_buckets_by_the_time_in_the_entry(released_log: dict[str, Any]) -> None:
    # Moving a received request's row into another period moves nothing.
    received = released_log["others"][0]
    before = _report()
    _rewrite_as_superuser([received], "occurred_at", [datetime(2001, 3, 1, tzinfo=UTC)])
    assert _report() == before
    old = transparency_report(period=Period(datetime(2001, 1, 1).date(),
                                            datetime(2001, 12, 31).date()))
    assert old["requests"]["received"] == 0


def test_the_report_counts_only_what_the_signed_log_holds(
    cast: Any, met: Any, targets: list[Any]
) -> None:
    log_sequence()
    before = _report()["requests"]["received"]
    factories.disclosure_request(agency=met.agency, targets=[targets[0]])
    assert _report()["requests"]["received"] == before  # not yet under a checkpoint
    log_sequence()
    assert _report()["requests"]["received"] == before + 1


def _pages(dave: Any) -> Iterator[dict[str, Any]]:
    after = None
    while True:
        body = dave.get(EVENTS, {"limit": 3, **({"after": after} if after else {})}).json()
        yield body
        after = body["next_after"]
        if after is None:
            return


def test_auditor_pages_are_read_from_entries_and_cover_every_event(
    cast: Any, released_log: dict[str, Any]
) -> None:
    dave = cast.client("dave")
    listed = [e for page in _pages(dave) for e in page["events"]]
    assert [e["id"] for e in listed] == list(
        AuditEvent.objects.filter(id__lte=listed[-1]["id"]).order_by("id")
        .values_list("id", flat=True))
    for shown in listed:
        row = AuditEvent.objects.get(pk=shown["id"])
        assert shown["entry"] == bytes(row.entry).decode()
        assert shown["event_type"] == row.event_type  # untampered: entry and row agree


def test_a_sealed_detail_opens_only_against_the_commitment_in_its_entry(cast: Any) -> None:
    from escrow.log.events import event_record

    with transaction.atomic():
        victim = event_record(event_type="test.sealed", actor=Actor.system(),
                              sealed={"username": "victim"})
        other = event_record(event_type="test.sealed", actor=Actor.system(),
                             sealed={"username": "someone-else"})
    # Move the other row's sealed detail and its copied commitment onto the victim:
    # they open against each other, but not against what the victim's entry commits to.
    _rewrite_as_superuser([victim], "commitment", [bytes(other.commitment)])
    _rewrite_as_superuser([victim], "sealed_detail", [bytes(other.sealed_detail)])
    response = cast.client("dave").post(
        f"{EVENTS}/{victim.pk}/sealed-detail", {"reason": "checking a complaint"}, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "sealed_detail_mismatch"
    assert b"someone-else" not in response.content
