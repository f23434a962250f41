"""A request walked from intake to the agency decrypting its package.

Everything runs as it does in production: the platform enrols over HTTP, the agency
files over HTTP, staff review and approve over the API, three custodians run the
custodian tool as separate processes with their own share files, a real Celery worker
(a subprocess, on Redis, against the same PostgreSQL test database) combines the
partials and prepares the package, and the agency fetches and opens it with its own
X25519 key. Finally the worker delivers the signed webhook to the platform.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from accounts.services import credential_create
from escrow.crypto.checkpoint import checkpoint_open
from escrow.crypto.merkle import inclusion_verify, leaf_hash
from escrow.crypto.note import verifier_parse
from escrow.crypto.package import package_open_as_recipient
from escrow.log.keys import log_identity
from legal_requests.models import DisclosureRequest, Release
from tests import factories
from tests.release.conftest import (
    RELEASE_TEST_APPS,
    Worker,
    World,
    celery_worker_started,
    webhook_endpoint,
    world_build,
)
from tests.release.receiver import webhook_receiver
from tests.release.test_custodian_cli import release_args

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, available_apps=RELEASE_TEST_APPS),
]

WORKER_READY_SECONDS = 60
RELEASE_SECONDS = 150


def _require_services() -> None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the end-to-end release needs PostgreSQL: set DATABASE_URL")
    if not settings.REDIS_URL:
        pytest.skip("the end-to-end release needs Redis for the Celery worker: set REDIS_URL")


@pytest.fixture
def celery_worker_process(live_server: Any) -> Iterator[Worker]:
    _require_services()
    # The log sequences only events older than every running transaction on the
    # server: on a shared server, give it time rather than fail closed at once.
    with celery_worker_started(
        name="e2e", env={"RELEASE_LOG_WAIT_SECONDS": str(RELEASE_SECONDS - 30)},
        ready_seconds=WORKER_READY_SECONDS,
    ) as worker:
        yield worker


def http(method: str, url: str, *, token: str, body: dict[str, Any] | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the live test server
        url, data=data, method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_intake_to_agency_decryption_with_three_custodian_processes_and_a_worker(
    live_server: Any, celery_worker_process: Worker, tmp_path: Path, patient_log: None
) -> None:
    factories.jurisdiction_enabled("GB-EAW")
    world: World = world_build(share_files=True)
    base = live_server.url
    platform_key = credential_create(platform=world.platform).api_key

    with webhook_receiver() as receiver:
        endpoint = webhook_endpoint(world, receiver.url)

        # 1. The platform enrols a user at signup.
        status, enrolled = http(
            "POST", f"{base}/api/v1/enrolments", token=platform_key,
            body=factories.identity_payload(),
            headers={"Idempotency-Key": factories.idempotency_key()},
        )
        assert status == 201, enrolled
        pseudonym = enrolled["pseudonym"]

        # 2. The agency files a court order naming the pseudonym.
        fields = ["given_name", "family_name", "email", "verification_reference"]
        status, filed = http(
            "POST", f"{base}/api/v1/disclosure-requests", token=world.agency_api_key,
            body=factories.disclosure_payload(
                targets=[pseudonym], legal_basis=world.basis.code, requested_fields=fields,
            ),
        )
        assert status == 201, filed
        request_id = filed["id"]
        requests_url = f"{base}/api/v1/disclosure-requests/{request_id}"

        # 3. alice reviews it; bob and carol approve it.
        status, body = http("POST", f"{requests_url}/review",
                            token=world.staff_token(world.alice))
        assert status == 200, body
        for approver in (world.bob, world.carol):
            status, body = http("POST", f"{requests_url}/approve",
                                token=world.staff_token(approver),
                                body={"reason": "Proportionate; the order is in scope."})
            assert status == 200, body
        assert DisclosureRequest.objects.get(pk=request_id).state == "approved"

        # 4. Three custodians, each on their own machine, run the tool at once.
        custodians = []
        for name in ("frank", "grace", "heidi"):
            env = {k: v for k, v in os.environ.items() if not k.startswith("ESCROW_")}
            env["ESCROW_CUSTODIAN_TOKEN"] = world.staff_token(world.custodians[name])
            custodians.append(subprocess.Popen(  # noqa: S603 - our own tool
                [sys.executable, "-m", "escrow.custodian.cli", "--server", base,
                 *release_args(world, tmp_path, name, request_id)],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            ))
        for process in custodians:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
            assert "Partial accepted" in out

        # 5. The worker combines the partials, waits for the log, prepares the package.
        deadline = time.monotonic() + RELEASE_SECONDS
        request = DisclosureRequest.objects.get(pk=request_id)
        while request.state != "released" and time.monotonic() < deadline:
            time.sleep(0.25)
            request.refresh_from_db()
        assert request.state == "released", (
            f"still {request.state}; worker log:\n" + "".join(celery_worker_process.output[-60:])
        )

        # It was the worker process that did it, not the web process.
        assert any("legal_requests.release_perform" in line and "succeeded" in line
                   for line in celery_worker_process.output)

        # 6. The agency fetches the package once and opens it with its private key.
        status, sealed = http("GET", f"{requests_url}/package", token=world.agency_api_key)
        assert status == 200, sealed
        assert world.agency_private_key is not None
        package = json.loads(package_open_as_recipient(
            recipient_private_key=world.agency_private_key,
            sealed=base64.b64decode(sealed["sealed_package"]),
        ))
        (subject,) = package["content"]["subjects"]
        assert subject["pseudonym"] == pseudonym
        assert subject["fields"] == {
            "given_name": factories.CANARY["given_name"],
            "family_name": factories.CANARY["family_name"],
            "email": factories.CANARY["email"],
        }
        assert subject["evidence"]["verification_reference"] == factories.CANARY["reference"]
        checkpoint = checkpoint_open(
            message=package["release"]["checkpoint"].encode(),
            verifier=verifier_parse(log_identity().verifier_key), origin=log_identity().origin,
        )
        inclusion_verify(
            index=package["release"]["log_index"], size=checkpoint.size,
            leaf_hash=leaf_hash(base64.b64decode(package["release"]["leaf"])),
            proof=[base64.b64decode(p) for p in package["release"]["inclusion_proof"]],
            root=checkpoint.root_hash,
        )
        status, again = http("GET", f"{requests_url}/package", token=world.agency_api_key)
        assert status == 404, again
        assert Release.objects.get(request_id=request_id).package_sealed is None

        # 7. The worker tells the platform, signed.
        from legal_requests.tasks import webhooks_send_due_task

        webhooks_send_due_task.delay()
        deadline = time.monotonic() + 30
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.2)
        assert receiver.received, "no webhook arrived"
        hit = receiver.received[0]
        notice = Webhook(endpoint.signing_secret).verify(hit.body, hit.headers)
        assert notice["data"]["pseudonym"] == pseudonym
        assert notice["data"]["legal_basis"]["code"] == world.basis.code
