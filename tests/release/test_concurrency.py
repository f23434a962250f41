"""Custodians answering at the same moment: one release, exactly k partials, no double start."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from escrow.log.models import AuditEvent
from legal_requests.models import CustodianResponse, Release
from legal_requests.services.release.partials import (
    PartialOutcome,
    ReleaseUnderWay,
    release_partial_submit,
)
from legal_requests.services.release.preconditions import ReleaseNotOpen
from tests.release.conftest import RELEASE_TEST_APPS, World, approved_request, enrol
from tests.release.test_release_api import fetch_challenge, partial_from

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, available_apps=RELEASE_TEST_APPS),
]


def test_four_simultaneous_uploads_start_one_release(world: World) -> None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("row locks under real concurrency need PostgreSQL")
    request = approved_request(world, [enrol(world)])
    names = ("frank", "grace", "heidi", "ivan")
    challenge = fetch_challenge(world, request, "frank")
    partials = {name: partial_from(world, name, challenge) for name in names}
    barrier = threading.Barrier(len(names))
    outcomes: dict[str, Any] = {}

    def upload(name: str) -> None:
        try:
            barrier.wait()
            outcomes[name] = release_partial_submit(
                disclosure=request, custodian=world.custodians[name],
                partial_data=partials[name],
            )
        except Exception as exc:
            outcomes[name] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    accepted = [o for o in outcomes.values() if isinstance(o, PartialOutcome)]
    refused = [o for o in outcomes.values() if isinstance(o, Exception)]
    assert len(accepted) == 3, outcomes
    assert sum(o.release_started for o in accepted) == 1
    assert len(refused) == 1
    assert isinstance(refused[0], ReleaseUnderWay | ReleaseNotOpen)
    assert CustodianResponse.objects.filter(request=request).count() == 3
    assert AuditEvent.objects.filter(event_type="disclosure.release_started").count() == 1
    request.refresh_from_db()
    assert request.state == "released"
    assert Release.objects.filter(request=request).count() == 1
