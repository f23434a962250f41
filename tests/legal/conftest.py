"""The disclosure story's cast: an agency, staff with personal tokens, and targets."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.roles import Role
from accounts.services import staff_sign_in
from tests import factories

PASSWORD = "correct horse battery"


def staff_client(user: Any) -> APIClient:
    """Sign in with password and TOTP, as POST /api/v1/auth/token does, and use the token."""
    device = TOTPDevice.objects.get(user=user)
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    issued = staff_sign_in(username=user.username, password=PASSWORD, otp_code=code)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    return client


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture(autouse=True)
def _seeded_legal_bases(db: Any) -> None:
    """The seed migration's rows, restored if a transactional test elsewhere flushed them."""
    from django.apps import apps

    seed = importlib.import_module("legal_requests.migrations.0004_seed_legal_bases").seed
    seed(apps, None)


@pytest.fixture(autouse=True)
def _uncached_reports(settings: Any) -> None:
    # The cache may be a Redis shared with other runs; each test computes its own report.
    settings.TRANSPARENCY_REPORT_CACHE_SECONDS = 0


@dataclass
class AgencyClient:
    agency: Any
    client: APIClient


@pytest.fixture
def met(db: Any) -> AgencyClient:
    agency, key = factories.agency_with_key(name="Metropolitan Police Service")
    return AgencyClient(agency=agency, client=key_client(key))


@pytest.fixture
def fbi(db: Any) -> AgencyClient:
    agency, key = factories.agency_with_key(name="FBI Field Office", jurisdiction="US")
    return AgencyClient(agency=agency, client=key_client(key))


class Cast:
    """Staff created on first use, each with a signed-in API client."""

    ROLES = {
        "alice": (Role.INTAKE_OFFICER,),
        "bob": (Role.APPROVER,),
        "carol": (Role.APPROVER,),
        "erin": (Role.APPROVER,),
        "dave": (Role.AUDITOR,),
        "frank": (Role.CUSTODIAN,),
        "grace": (Role.CUSTODIAN,),
        "oscar": (Role.ADMINISTRATOR,),
        # Holds two roles: enters paper requests and approves others'.
        "mallory": (Role.INTAKE_OFFICER, Role.APPROVER),
    }

    def __init__(self) -> None:
        self._users: dict[str, Any] = {}
        self._clients: dict[str, APIClient] = {}

    def user(self, name: str) -> Any:
        if name not in self._users:
            self._users[name] = factories.staff(name, *self.ROLES[name], password=PASSWORD)
        return self._users[name]

    def client(self, name: str) -> APIClient:
        if name not in self._clients:
            self._clients[name] = staff_client(self.user(name))
        return self._clients[name]


@pytest.fixture
def cast(db: Any) -> Cast:
    return Cast()


@pytest.fixture
def targets(platform_a: Any, platform_b: Any) -> list[Any]:
    """Three live enrolments: two on platform A, one on platform B."""
    return [
        factories.enrolment(platform_a.platform),
        factories.enrolment(platform_a.platform, email="second@mailbox.example"),
        factories.enrolment(platform_b.platform),
    ]


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Run Celery tasks in-process (notifications) for the tests that read the outbox."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous
