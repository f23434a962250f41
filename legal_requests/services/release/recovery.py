"""Beat scans over releases: resume the stalled, close the completed, scrub the finished.

Each is safe to run twice or concurrently: it re-checks its condition on a locked row
(or, for a resumed release, the release task takes its own lock and finds a stored
package).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from escrow.log.events import Actor
from legal_requests.models import Approval, DisclosureRequest
from legal_requests.selectors import release_last_abort
from legal_requests.services import workflow
from legal_requests.services.release.partials import custodian_partials_scrub
from legal_requests.services.release.settings import release_setting
from legal_requests.services.review import RETROSPECTIVE_REVIEWS_REQUIRED

# Abort reasons a later attempt may overcome; any other needs an operator.
# (An operator can fix an agency's key; the next scan then completes the release.)
RETRYABLE_ABORTS = frozenset({"log_unavailable", "agency_key_invalid"})


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
        ):
            stalled.append(str(disclosure.pk))
    return stalled


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
