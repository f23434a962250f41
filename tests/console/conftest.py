"""The console's cast: staff signed in through the console's own sign-in page."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.roles import Role
from tests import factories

PASSWORD = "correct horse battery"


def otp_code(user: Any, *, drift: int = 0) -> str:
    """The code the user's authenticator shows now (`drift` steps later: a fresh code,
    since each code is accepted once).

    Never beyond the server's window: django-otp centres it on the offset of the last
    code it accepted and takes one step either side. A sign-in code computed just before
    a step boundary and checked just after leaves that offset at -1, and a code two
    steps ahead would then be refused; the latest code the window takes is fresh anyway.
    """
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits,
                 drift=min(drift, device.drift + 1))
    return f"{value:0{device.digits}d}"


def console_client(user: Any) -> Client:
    """A browser session signed in through POST /console/sign-in."""
    client = Client()
    response = client.post("/console/sign-in", {
        "username": user.username, "password": PASSWORD, "otp_code": otp_code(user)})
    assert response.status_code == 302, response.content[:500]
    return client


@pytest.fixture(autouse=True)
def _seeded_legal_bases(db: Any) -> None:
    """The seed migration's rows, restored if a transactional test elsewhere flushed them."""
    from django.apps import apps

    seed = importlib.import_module("legal_requests.migrations.0004_seed_legal_bases").seed
    seed(apps, None)


@dataclass
class Story:
    """An agency's production order for one pseudonym, put in review by alice."""

    alice: Any  # intake officer
    bob: Any  # approver
    carol: Any  # approver
    dave: Any  # auditor
    frank: Any  # custodian
    agency: Any
    disclosure: Any


@pytest.fixture
def story(escrow_keypair: Any) -> Story:
    from legal_requests.services.review import disclosure_review_start

    alice = factories.staff("alice", Role.INTAKE_OFFICER)
    bob = factories.staff("bob", Role.APPROVER)
    carol = factories.staff("carol", Role.APPROVER)
    dave = factories.staff("dave", Role.AUDITOR)
    frank = factories.staff("frank", Role.CUSTODIAN)
    agency, _ = factories.agency_with_key()
    platform, _ = factories.platform_with_key(name="Chirper")
    target = factories.enrolment(platform)
    disclosure = factories.disclosure_request(agency=agency, targets=[target])
    disclosure = disclosure_review_start(disclosure=disclosure, reviewer=alice)
    return Story(alice=alice, bob=bob, carol=carol, dave=dave, frank=frank, agency=agency,
                 disclosure=disclosure)
