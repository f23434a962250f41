"""Reads about a release: where it stands, for the staff who follow it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from escrow.log.models import AuditEvent
from escrow.vault.models import EscrowKey
from legal_requests import workflow
from legal_requests.models import CustodianResponse, Release
from legal_requests.services.release import ABORT_EVENT, request_get


@dataclass(frozen=True)
class ReleaseStatus:
    request_id: str
    reference: str
    state: str
    threshold: int | None
    partials_in: int
    refusals: int
    last_abort_reason: str | None
    last_abort_at: datetime | None
    release_log_index: int | None
    prepared_at: datetime | None
    delivered_at: datetime | None
    download_expires_at: datetime | None
    platforms_notified_at: datetime | None


def release_status_get(*, request_id: object) -> ReleaseStatus:
    """No personal data: counts, states, times and the reason of the last failed attempt."""
    request = request_get(request_id)
    key = EscrowKey.objects.filter(is_active=True).first()
    responses = CustodianResponse.objects.filter(
        request=request, key_epoch=key.epoch if key else -1
    )
    abort = (
        AuditEvent.objects.filter(
            event_type=ABORT_EVENT, object_ref=workflow.request_object_ref(request)
        )
        .order_by("-occurred_at")
        .first()
    )
    release = Release.objects.filter(request=request).first()
    return ReleaseStatus(
        request_id=str(request.pk),
        reference=request.reference,
        state=request.state,
        threshold=key.threshold if key else None,
        partials_in=responses.filter(partial__isnull=False).count(),
        refusals=responses.filter(partial__isnull=True).count(),
        last_abort_reason=(
            json.loads(bytes(abort.entry))["details"].get("reason") if abort else None
        ),
        last_abort_at=abort.occurred_at if abort else None,
        release_log_index=release.log_index if release else None,
        prepared_at=release.prepared_at if release else None,
        delivered_at=release.delivered_at if release else None,
        download_expires_at=release.download_expires_at if release else None,
        platforms_notified_at=release.platforms_notified_at if release else None,
    )
