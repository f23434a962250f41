"""Operators register the X25519 key an agency's packages are sealed to."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Agency
from escrow.crypto.package import recipient_keypair_generate
from escrow.log.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_command_registers_a_key_and_logs_its_digest(db: Any) -> None:
    agency, _ = factories.agency_with_key(name="Metropolitan Police Service")
    _, public = recipient_keypair_generate()
    key = base64.b64encode(public).decode()
    out = io.StringIO()
    call_command("agency_package_key", "--agency", agency.name, "--key", key, stdout=out)
    assert Agency.objects.get(pk=agency.pk).package_public_key == key
    event = AuditEvent.objects.get(event_type="agency.package_key_set")
    details = json.loads(bytes(event.entry))["details"]
    assert len(details["key_sha256"]) == 64
    assert key not in bytes(event.entry).decode()


@pytest.mark.parametrize("key", ["", "not base64", base64.b64encode(b"short").decode()])
def test_a_malformed_key_is_refused(db: Any, key: str) -> None:
    agency, _ = factories.agency_with_key(name="Metropolitan Police Service")
    with pytest.raises(CommandError, match="not an X25519 public key"):
        call_command("agency_package_key", "--agency", agency.name, "--key", key,
                     stdout=io.StringIO())
    assert Agency.objects.get(pk=agency.pk).package_public_key == ""


def test_an_unknown_agency_is_refused(db: Any) -> None:
    with pytest.raises(CommandError, match="no agency"):
        call_command("agency_package_key", "--agency", "Nobody", "--key", "x",
                     stdout=io.StringIO())
