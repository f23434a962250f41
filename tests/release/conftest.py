"""The release story's cast: custodians frank, grace, heidi, ivan and judy hold shares
1-5 of a 3-of-5 escrow key; alice took the request in, bob and carol approved it; the
Metropolitan Police Service asks for the identity behind one or more pseudonyms."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Agency, Platform, WebhookEndpoint
from accounts.roles import Role
from accounts.services import agency_create, credential_create, staff_sign_in
from escrow.crypto.package import recipient_keypair_generate
from escrow.crypto.sharefile import Argon2Params, share_file_seal
from escrow.log.events import Actor, event_record
from escrow.vault.identity import Evidence, Identity, PostalAddress
from escrow.vault.models import CustodianKey, Enrolment
from escrow.vault.services.enrolment import enrolment_create
from legal_requests.models import Approval, DisclosureRequest, LegalBasis, RequestTarget
from tests import factories

# Transactional tests here name every app, so that Django creates content types at set-up
# and flushes without re-creating them: a later test with serialized rollback then
# restores the migrated rows into an empty database instead of clashing with new ones.
RELEASE_TEST_APPS = list(settings.INSTALLED_APPS)

CUSTODIAN_NAMES = ("frank", "grace", "heidi", "ivan", "judy")
PASSWORD = "correct horse battery"
SHARE_PASSPHRASE = "custodian passphrase, long enough"
# Cheap Argon2 for tests: the parameters are the file's own, so opening stays cheap too.
TEST_KDF = Argon2Params(memory_kib=1024, iterations=1, lanes=1)
ALL_FIELDS = [
    "given_name", "family_name", "date_of_birth", "postal_address", "email", "phone",
    "document_type", "document_number", "document_country", "verification_reference",
]


@dataclass
class World:
    keypair: factories.EscrowKeyPair
    custodians: dict[str, User]
    alice: User
    bob: User
    carol: User
    platform: Platform
    agency: Agency
    agency_api_key: str
    agency_private_key: bytes | None
    basis: LegalBasis
    share_files: dict[str, bytes] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def staff_token(self, user: User) -> str:
        """A token for `user`, signed in once (a TOTP code works once per time step)."""
        from django_otp.oath import totp
        from django_otp.plugins.otp_totp.models import TOTPDevice

        if user.username not in self.tokens:
            device = TOTPDevice.objects.get(user=user)
            self.tokens[user.username] = staff_sign_in(
                username=user.username, password=PASSWORD,
                otp_code=f"{totp(device.bin_key):06d}",
            ).secret
        return self.tokens[user.username]

    def staff_client(self, user: User) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.staff_token(user)}")
        return client

    def agency_client(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.agency_api_key}")
        return client

    def share(self, name: str) -> Any:
        return self.keypair.shares[list(CUSTODIAN_NAMES).index(name)]


def world_build(*, agency_key: bool = True, share_files: bool = False) -> World:
    keypair = factories.escrow_key_active(threshold=3, custodians=5)
    custodians = {}
    for index, name in enumerate(CUSTODIAN_NAMES, start=1):
        user = factories.staff(name, Role.CUSTODIAN, password=PASSWORD)
        CustodianKey.objects.create(
            escrow_key=keypair.row, index=index, user=user,
            verification_key=keypair.public_key.verification_keys[index - 1].hex(),
        )
        custodians[name] = user
    alice = factories.staff("alice", Role.INTAKE_OFFICER, password=PASSWORD)
    bob = factories.staff("bob", Role.APPROVER, password=PASSWORD)
    carol = factories.staff("carol", Role.APPROVER, password=PASSWORD)
    jurisdiction = factories.JurisdictionFactory()
    basis, _ = LegalBasis.objects.get_or_create(
        code="GB-EAW:test-court-order",
        defaults={
            "jurisdiction": jurisdiction, "name": "Court order (test)",
            "releasable_fields": ALL_FIELDS, "approvals_required": 2,
        },
    )
    private_key, public_key = recipient_keypair_generate()
    agency = agency_create(
        name=f"Metropolitan Police Service {uuid.uuid4().hex[:6]}",
        jurisdiction_code=jurisdiction.code,
        callback_phone="+442071230000", callback_email="duty@met.police.example",
        package_public_key=base64.b64encode(public_key).decode() if agency_key else "",
    )
    agency_key_text = credential_create(agency=agency).api_key
    platform = factories.PlatformFactory(name=f"Chirp {uuid.uuid4().hex[:6]}")
    world = World(
        keypair=keypair, custodians=custodians, alice=alice, bob=bob, carol=carol,
        platform=platform, agency=agency, agency_api_key=agency_key_text,
        agency_private_key=private_key if agency_key else None, basis=basis,
    )
    if share_files:
        for name, user in custodians.items():
            world.share_files[name] = share_file_seal(
                share=world.share(name), public_key=keypair.public_key,
                custodian_label=user.username, passphrase=SHARE_PASSPHRASE, kdf_params=TEST_KDF,
            )
    return world


def enrol(world: World, n: int = 0, *, phone: bool = True) -> Enrolment:
    identity = Identity(
        given_name=f"Zebulonqx{n}", family_name="Quartermainezz",
        date_of_birth=date(1987, 4, 12),
        postal_address=PostalAddress(lines=("41 Canaryquay Wharf",), locality="London",
                                     postal_code="E14 5AB", country="GB"),
        email=f"canary.{n}@mailbox.example", phone="+447700900481" if phone else None,
        document_type="passport", document_number=f"CNRY{n:05d}", document_country="GB",
    )
    evidence = Evidence(provider="demo-idv", reference=f"idv-ref-{n}", assurance_level="high",
                        verified_at=timezone.now() - timedelta(days=3))
    return enrolment_create(platform=world.platform, identity=identity, evidence=evidence,
                            idempotency_key=factories.idempotency_key()).enrolment


def approved_request(
    world: World, enrolments: list[Enrolment], *, fields: list[str] | None = None,
    expires_at: datetime | None = None, nondisclosure_until: date | None = None,
) -> DisclosureRequest:
    """An approved request, built directly (as the review service leaves one)."""
    import hashlib

    fields = fields if fields is not None else ["given_name", "family_name", "email"]
    with transaction.atomic():
        request = DisclosureRequest.objects.create(
            reference=f"DR-T-{uuid.uuid4().hex[:10]}", state=DisclosureRequest.State.APPROVED,
            channel="api", agency=world.agency, entered_by=world.alice,
            officer_name="DC Olivia Wood", officer_email="olivia.wood@met.police.example",
            officer_phone="+442071230001", case_reference="OP-HEMLOCK-17",
            legal_basis=world.basis, issuing_authority="Westminster Magistrates' Court",
            document_sealed=b"sealed", document_sha256=bytes(32), document_name="order.pdf",
            document_content_type="application/pdf", issued_on=timezone.now().date(),
            expires_at=expires_at or timezone.now() + timedelta(days=30),
            requested_fields=fields, justification="Threats to kill (s.16 OAPA 1861).",
            nondisclosure_until=nondisclosure_until,
        )
        for enrolment in enrolments:
            RequestTarget.objects.create(request=request, pseudonym=enrolment.pseudonym,
                                         enrolment=enrolment)
        ids = sorted(str(e.id) for e in enrolments)
        event = event_record(
            event_type="disclosure.approved",
            actor=Actor.for_staff(world.carol.pk, str(Role.APPROVER)),
            object_ref=f"disclosure_request:{request.pk}",
            details={
                "reference": request.reference, "from": "in_review", "to": "approved",
                "legal_basis": world.basis.code, "jurisdiction": world.basis.jurisdiction_id,
                "emergency": False, "fields": fields, "target_count": len(enrolments),
                "targets_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
                "expires_at": request.expires_at.isoformat(),
            },
        )
        for approver in (world.bob, world.carol):
            Approval.objects.create(request=request, approver=approver, decision="approve",
                                    reason="Proportionate.", audit_event=event)
        DisclosureRequest.objects.filter(pk=request.pk).update(approval_event=event)
    request.refresh_from_db()
    return request


@pytest.fixture
def eager_tasks() -> Any:
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def patient_log(settings: Any) -> None:
    # The sequencer only takes events older than every running transaction on the
    # server; a neighbour's long transaction (another test run) can hold it back.
    settings.RELEASE_CHALLENGE_LOG_WAIT_SECONDS = 30.0
    settings.RELEASE_LOG_WAIT_SECONDS = 60.0


@pytest.fixture
def world(transactional_db: Any, eager_tasks: Any, patient_log: None) -> World:
    return world_build()


def webhook_endpoint(world: World, url: str) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        platform=world.platform, url=url,
        signing_secret="whsec_" + base64.b64encode(b"platform-webhook-secret-32-bytes").decode(),
    )


# --- a real Celery worker, for the slow tests that need one -----------------------------


@dataclass
class Worker:
    process: subprocess.Popen[str]
    output: list[str]


def worker_database_url() -> str:
    """The URL of the database pytest-django made (test_<name>), for a subprocess."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}")


@contextmanager
def celery_worker_started(*, name: str, env: dict[str, str], ready_seconds: float
                          ) -> Iterator[Worker]:
    """A `celery -A config worker` subprocess on Redis against the test database.

    Waits until it says it is ready; its output is kept (and drained in the background,
    or a full pipe would block the worker's logging and the worker). Stopped at exit.
    """
    environment = dict(os.environ)
    environment.update({
        "DATABASE_URL": worker_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **env,
    })
    process = subprocess.Popen(  # noqa: S603 - the project's own worker
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
         "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-n", f"{name}-{uuid.uuid4().hex[:8]}@%h"],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    output: list[str] = []
    assert process.stdout is not None
    deadline = time.monotonic() + ready_seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if " ready." in line:
            break
    if process.poll() is not None or not any(" ready." in line for line in output):
        process.kill()
        pytest.fail("the Celery worker did not start:\n" + "".join(output))

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    threading.Thread(target=drain, daemon=True).start()
    try:
        yield Worker(process=process, output=output)
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
