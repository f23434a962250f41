"""`make demo`'s sample requests: one in each state the console's pages show, made by
the real services (the release from the demo custodians' own share files)."""

from __future__ import annotations

import importlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from legal_requests.models import DisclosureRequest, Release
from tests.release.conftest import eager_tasks, patient_log  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.slow,
              pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.usefixtures("eager_tasks", "patient_log")]


@pytest.fixture(autouse=True)
def _seeded_legal_bases() -> None:
    from django.apps import apps

    importlib.import_module("legal_requests.migrations.0004_seed_legal_bases").seed(apps, None)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_sample_requests_cover_each_state_once(tmp_path: Path, escrow_keypair: Any) -> None:
    run("demo_setup", "--out", str(tmp_path))
    printed = run("demo_requests", "--out", str(tmp_path))
    states = sorted(DisclosureRequest.objects.values_list("state", flat=True))
    assert states == ["approved", "in_review", "in_review", "needs_information", "received",
                      "released"]
    emergency = DisclosureRequest.objects.get(is_emergency=True)
    assert (emergency.state, emergency.channel) == ("in_review", "paper")
    released = Release.objects.get()
    assert released.request.state == "released"
    assert released.request.reference in printed
    credentials = json.loads((tmp_path / "credentials.json").read_text())
    assert f"Console:      {credentials['console']}" in printed
    assert str(tmp_path / "credentials.json") in printed
    # Once only: run again, nothing changes and nothing is printed.
    assert run("demo_requests", "--out", str(tmp_path)) == ""
    assert DisclosureRequest.objects.count() == 6


def test_credentials_hold_one_sign_in_per_staff_role(tmp_path: Path,
                                                     escrow_keypair: Any) -> None:
    run("demo_setup", "--out", str(tmp_path))
    staff = json.loads((tmp_path / "credentials.json").read_text())["staff"]
    roles = {role for entry in staff.values() for role in entry["roles"]}
    assert roles == {"intake_officer", "approver", "custodian", "auditor", "administrator"}
    assert sum("approver" in entry["roles"] for entry in staff.values()) >= 2
    for username, entry in staff.items():
        assert set(entry) == {"username", "password", "roles", "totp_secret", "totp_uri"}
        assert entry["username"] == username
