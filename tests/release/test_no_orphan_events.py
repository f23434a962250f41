"""No orphan events: every `disclosure.release_committed` gets its outcome, released or
aborted with a reason, within RELEASE_OUTCOME_DEADLINE_SECONDS plus one recovery scan;
when recovery gives up, a last abort says so. (The test that kills a real worker
mid-release is tests/release/test_worker_killed.py.)"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from escrow.log.events import Actor, event_record
from escrow.log.models import AuditEvent
from legal_requests.models import DisclosureRequest, Release
from legal_requests.services.release import commit as release_commit
from legal_requests.services.release import partials as release_partials
from legal_requests.services.release.commit import (
    RELEASE_EVENT,
    ReleaseAborted,
    release_commit_has_outcome,
    release_lock_key,
    release_perform,
)
from legal_requests.services.release.recovery import release_orphans_abort
from legal_requests.tasks import release_resume_stalled_task
from tests.release.conftest import RELEASE_TEST_APPS, World, approved_request, enrol
from tests.release.test_release_api import submit

pytestmark = pytest.mark.django_db(transaction=True, available_apps=RELEASE_TEST_APPS)

RELEASE_EVENTS = ("disclosure.release_committed", "disclosure.release_aborted",
                  "disclosure.released")


def release_story(request: DisclosureRequest) -> list[tuple[str, dict[str, Any]]]:
    """The request's release events in log order: (type, details)."""
    return [
        (e.event_type, json.loads(bytes(e.entry))["details"])
        for e in AuditEvent.objects.filter(
            object_ref=request.object_ref, event_type__in=RELEASE_EVENTS).order_by("pk")
    ]


def assert_every_commit_has_an_outcome(request: DisclosureRequest) -> None:
    for commit in AuditEvent.objects.filter(object_ref=request.object_ref,
                                            event_type=RELEASE_EVENT):
        assert release_commit_has_outcome(commit), f"orphan commit #{commit.pk}"


@pytest.fixture
def releasing(world: World, monkeypatch: pytest.MonkeyPatch) -> DisclosureRequest:
    """k partials in, the request releasing, and no worker has picked the task up yet."""
    request = approved_request(world, [enrol(world)])
    with monkeypatch.context() as patch:
        patch.setattr(release_partials, "_release_enqueue_on_commit", lambda _id: None)
        for name in ("frank", "grace", "heidi"):
            assert submit(world, request, name).status_code == 201
    request.refresh_from_db()
    assert request.state == "releasing"
    return request


def lost_worker_commit(request: DisclosureRequest, *, seconds_ago: float) -> AuditEvent:
    """What a worker killed while waiting for the log leaves: its commit and its lock."""
    cache.add(release_lock_key(request.pk), "1", timeout=300)
    with transaction.atomic():
        return event_record(
            event_type=RELEASE_EVENT, actor=Actor.system("release"),
            object_ref=request.object_ref,
            details={"reference": request.reference, "content_commitment": "00" * 32},
            occurred_at=timezone.now() - timedelta(seconds=seconds_ago),
        )


def test_a_commit_left_by_a_lost_worker_is_aborted_and_the_release_completed(
    world: World, releasing: DisclosureRequest, settings: Any
) -> None:
    settings.RELEASE_OUTCOME_DEADLINE_SECONDS = 90
    orphan = lost_worker_commit(releasing, seconds_ago=91)
    assert release_resume_stalled_task() == 1
    releasing.refresh_from_db()
    assert releasing.state == "released"
    story = release_story(releasing)
    assert [event_type for event_type, _ in story] == [
        "disclosure.release_committed", "disclosure.release_aborted",
        "disclosure.release_committed", "disclosure.released"]
    abort = story[1][1]
    assert abort["reason"] == "worker_lost"
    assert abort["retry"] is True
    assert abort["committed_at"] == orphan.occurred_at.isoformat()
    assert_every_commit_has_an_outcome(releasing)
    assert release_resume_stalled_task() == 0  # safe to run twice: nothing left


def test_a_commit_within_its_deadline_is_left_to_its_worker(
    world: World, releasing: DisclosureRequest, settings: Any
) -> None:
    settings.RELEASE_OUTCOME_DEADLINE_SECONDS = 90
    lost_worker_commit(releasing, seconds_ago=30)  # its worker may still be waiting
    assert release_orphans_abort() == []
    assert [t for t, _ in release_story(releasing)] == ["disclosure.release_committed"]


def test_a_slow_worker_whose_commit_was_aborted_stores_nothing(
    world: World, releasing: DisclosureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_wait = release_commit.log_wait

    def log_slower_than_the_deadline(*, event_id: int, timeout: float) -> Any:
        proof = real_wait(event_id=event_id, timeout=timeout)
        if event_id != releasing.approval_event_id:
            # Meanwhile recovery decided this worker was lost.
            assert release_orphans_abort(now=timezone.now() + timedelta(hours=1)) == [
                str(releasing.pk)]
        return proof

    monkeypatch.setattr(release_commit, "log_wait", log_slower_than_the_deadline)
    with pytest.raises(ReleaseAborted):
        release_perform(disclosure_id=releasing.pk)
    assert not Release.objects.exists()
    # One commit, one outcome: the worker wrote no second abort for it.
    assert [t for t, _ in release_story(releasing)] == [
        "disclosure.release_committed", "disclosure.release_aborted"]
    monkeypatch.setattr(release_commit, "log_wait", real_wait)
    assert release_perform(disclosure_id=releasing.pk) is not None
    assert_every_commit_has_an_outcome(releasing)


def test_a_lost_worker_on_an_expired_request_is_aborted_without_retry(
    world: World, releasing: DisclosureRequest, settings: Any
) -> None:
    settings.RELEASE_OUTCOME_DEADLINE_SECONDS = 90
    lost_worker_commit(releasing, seconds_ago=120)
    DisclosureRequest.objects.filter(pk=releasing.pk).update(state="expired")
    assert release_resume_stalled_task() == 0
    story = release_story(releasing)
    assert story[-1][0] == "disclosure.release_aborted"
    assert (story[-1][1]["reason"], story[-1][1]["retry"]) == ("worker_lost", False)
    assert_every_commit_has_an_outcome(releasing)


def test_recovery_gives_up_with_an_abort_event_after_its_attempts(
    world: World, releasing: DisclosureRequest, settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from escrow.log.services import LogUnavailable

    settings.RELEASE_MAX_ATTEMPTS = 2
    settings.RELEASE_RETRY_SECONDS = 0
    real_wait = release_commit.log_wait

    def log_down_for_new_events(*, event_id: int, timeout: float) -> Any:
        if event_id != releasing.approval_event_id:
            raise LogUnavailable("no checkpoint")
        return real_wait(event_id=event_id, timeout=timeout)

    monkeypatch.setattr(release_commit, "log_wait", log_down_for_new_events)
    with pytest.raises(ReleaseAborted):
        release_perform(disclosure_id=releasing.pk)  # attempt 1
    assert release_resume_stalled_task() == 1  # attempt 2, aborted again
    assert release_resume_stalled_task() == 0  # spent: recovery gives up, and says so
    assert release_resume_stalled_task() == 0
    aborts = [d for t, d in release_story(releasing) if t == "disclosure.release_aborted"]
    assert [a["reason"] for a in aborts] == ["log_unavailable", "log_unavailable",
                                             "recovery_gave_up"]
    assert aborts[-1] | {"reference": ""} == {
        "reference": "", "reason": "recovery_gave_up", "last_reason": "log_unavailable",
        "attempts": 2, "retry": False}
    assert_every_commit_has_an_outcome(releasing)
    status = world.staff_client(world.bob).get(f"/api/v1/releases/{releasing.pk}").json()
    assert (status["state"], status["last_abort_reason"]) == ("releasing", "recovery_gave_up")
