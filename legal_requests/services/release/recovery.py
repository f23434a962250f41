"""Beat scans over releases: end the orphaned, resume the stalled, close the completed,
scrub the finished.

No orphan events: a `disclosure.release_committed` event that has no outcome
(`disclosure.released` or `disclosure.release_aborted`) RELEASE_OUTCOME_DEADLINE_SECONDS
after it was written belongs to a worker that was lost (killed, out of memory, host
gone): a live one has given up waiting for the log long before. The recovery scan
(`release_recover`, every minute on beat) then writes the abort, `reason: worker_lost`,
frees the lost worker's run lock and, while the request is still releasing, starts a
fresh attempt. After RELEASE_MAX_ATTEMPTS failed attempts recovery gives up, and says so
with a last abort, `reason: recovery_gave_up`; an operator must look.

Each is safe to run twice or concurrently: it re-checks its condition on a locked row
(or, for a resumed release, the release task takes its own lock and finds a stored
package).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from escrow.log.events import Actor, event_record
from escrow.log.models import AuditEvent
from legal_requests.models import Approval, DisclosureRequest, Release
from legal_requests.selectors import RELEASE_ABORTED_EVENT, release_last_abort
from legal_requests.services import workflow
from legal_requests.services.release.commit import (
    RELEASE_EVENT,
    release_commit_has_outcome,
    release_lock_clear,
)
from legal_requests.services.release.partials import custodian_partials_scrub
from legal_requests.services.release.settings import release_setting
from legal_requests.services.review import RETROSPECTIVE_REVIEWS_REQUIRED

# Abort reasons a later attempt may overcome; any other needs an operator.
# (An operator can fix an agency's key; the next scan then completes the release.)
RETRYABLE_ABORTS = frozenset({"log_unavailable", "agency_key_invalid", "worker_lost"})
WORKER_LOST = "worker_lost"
RECOVERY_GAVE_UP = "recovery_gave_up"

logger = logging.getLogger("legal_requests.release")


def _attempts_failed(disclosure: DisclosureRequest) -> int:
    return AuditEvent.objects.filter(
        event_type=RELEASE_ABORTED_EVENT, object_ref=disclosure.object_ref
    ).count()


def releases_stalled(*, now: datetime | None = None) -> list[str]:
    """Requests stuck in `releasing` with no package, whose last attempt is old enough.

    Only transient failures are retried (the log could not checkpoint, a worker was
    lost). Partials that no longer verify or a field that does not open mean stored
    data was altered: retrying cannot help, and an operator must look.
    """
    moment = now or timezone.now()
    retry_after = timedelta(seconds=release_setting("RELEASE_RETRY_SECONDS"))
    stalled = []
    for disclosure in DisclosureRequest.objects.filter(
        state=DisclosureRequest.State.RELEASING, release__isnull=True,
        updated_at__lte=moment - retry_after,
    ).only("pk", "updated_at"):
        abort = release_last_abort(disclosure=disclosure)
        if abort is None or (
            abort.reason in RETRYABLE_ABORTS and abort.occurred_at <= moment - retry_after
            and _attempts_failed(disclosure) < release_setting("RELEASE_MAX_ATTEMPTS")
        ):
            stalled.append(str(disclosure.pk))
    return stalled


def _abort_orphan(commit: AuditEvent) -> str | None:
    """Abort one commit left without an outcome; the request's id if it is to be retried."""
    disclosure_id = commit.object_ref.removeprefix(DisclosureRequest.OBJECT_REF_PREFIX)
    with transaction.atomic():
        # The worker stores its package under this same lock, so the two cannot both
        # happen: whichever comes second sees the other's event (commit.py).
        disclosure = DisclosureRequest.objects.select_for_update().filter(
            pk=disclosure_id).first()
        if disclosure is None or release_commit_has_outcome(commit):
            return None
        retry = (
            disclosure.state == DisclosureRequest.State.RELEASING
            and not Release.objects.filter(request=disclosure).exists()
        )
        event_record(
            event_type=RELEASE_ABORTED_EVENT,
            actor=Actor.system("release-recovery"),
            object_ref=disclosure.object_ref,
            details={"reference": disclosure.reference, "reason": WORKER_LOST,
                     "committed_at": commit.occurred_at.isoformat(), "retry": retry},
        )
    logger.error("release of %s: worker lost after the commit; aborted", disclosure.reference)
    release_lock_clear(disclosure.pk)
    return str(disclosure.pk) if retry else None


def release_orphans_abort(*, now: datetime | None = None) -> list[str]:
    """Abort every release commit still without an outcome past its deadline.

    Returns the requests to retry (those still releasing). A commit older than
    RELEASE_ORPHAN_LOOKBACK_SECONDS is left alone: recovery has seen it long ago.
    """
    moment = now or timezone.now()
    deadline = timedelta(seconds=release_setting("RELEASE_OUTCOME_DEADLINE_SECONDS"))
    lookback = timedelta(seconds=release_setting("RELEASE_ORPHAN_LOOKBACK_SECONDS"))
    commits = AuditEvent.objects.filter(
        event_type=RELEASE_EVENT, occurred_at__lte=moment - deadline,
        occurred_at__gte=moment - lookback,
    ).order_by("pk")
    retry = []
    for commit in commits:
        if release_commit_has_outcome(commit):
            continue
        disclosure_id = _abort_orphan(commit)
        if disclosure_id is not None:
            retry.append(disclosure_id)
    return retry


def releases_give_up(*, now: datetime | None = None) -> int:
    """Say so, once, for every release recovery no longer retries: its attempts are spent.

    The request stays `releasing` (nothing was released) until an operator acts or its
    authority expires.
    """
    limit = release_setting("RELEASE_MAX_ATTEMPTS")
    given_up = 0
    for disclosure in DisclosureRequest.objects.filter(
        state=DisclosureRequest.State.RELEASING, release__isnull=True
    ):
        abort = release_last_abort(disclosure=disclosure)
        if abort is None or abort.reason not in RETRYABLE_ABORTS:
            continue
        with transaction.atomic():
            locked = DisclosureRequest.objects.select_for_update().get(pk=disclosure.pk)
            last = release_last_abort(disclosure=locked)
            attempts = _attempts_failed(locked)
            if (locked.state != DisclosureRequest.State.RELEASING or last is None
                    or last.reason not in RETRYABLE_ABORTS or attempts < limit):
                continue
            event_record(
                event_type=RELEASE_ABORTED_EVENT,
                actor=Actor.system("release-recovery"),
                object_ref=locked.object_ref,
                details={"reference": locked.reference, "reason": RECOVERY_GAVE_UP,
                         "last_reason": last.reason, "attempts": attempts, "retry": False},
            )
        logger.error("release of %s: recovery gave up after %d attempts",
                     disclosure.reference, attempts)
        given_up += 1
    return given_up


def release_recover(*, now: datetime | None = None) -> list[str]:
    """The beat scan: end orphaned commits, give up on spent releases, and return the
    requests to (re)try now."""
    orphans = release_orphans_abort(now=now)
    releases_give_up(now=now)
    stalled = releases_stalled(now=now)
    return list(dict.fromkeys([*orphans, *stalled]))


def disclosures_close_completed() -> int:
    """Close released requests once nothing about them is still owed.

    Owed means: the package not yet fetched or lapsed (it is deleted either way), the
    platforms not yet told (a non-disclosure period may still run), or, for an
    emergency, the retrospective review by two further approvers not yet complete.
    Safe to run twice: each close is a locked compare-and-swap from `released`.
    """
    candidates = DisclosureRequest.objects.filter(
        state=DisclosureRequest.State.RELEASED,
        release__package_sealed__isnull=True,
        release__platforms_notified_at__isnull=False,
    ).values_list("pk", flat=True)
    closed = 0
    for disclosure_id in list(candidates):
        with transaction.atomic():
            disclosure = DisclosureRequest.objects.select_for_update().get(pk=disclosure_id)
            if disclosure.state != DisclosureRequest.State.RELEASED:
                continue
            if disclosure.is_emergency and disclosure.approvals.filter(
                stage=Approval.Stage.RETROSPECTIVE
            ).count() < RETROSPECTIVE_REVIEWS_REQUIRED:
                continue
            workflow.close(
                disclosure,
                actor=Actor.system("release-closer"),
                details={"delivered": disclosure.release.delivered_at is not None},
            )
            closed += 1
    return closed


def custodian_partials_scrub_closed() -> int:
    """Scrub the partials of every request that can no longer be released (beat)."""
    scrubbed = 0
    ended = DisclosureRequest.objects.filter(
        custodian_responses__partial__has_key="shares"
    ).exclude(state__in=DisclosureRequest.RELEASE_STATES).distinct()
    for disclosure in ended:
        with transaction.atomic():
            scrubbed += custodian_partials_scrub(disclosure=disclosure)
    return scrubbed
