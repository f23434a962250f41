"""Legal holds: agencies preserve enrolments; staff extend once or lift; erasure waits."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from escrow.log.models import AuditEvent
from escrow.vault.models import LegalHold
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/api/v1/legal-holds"


@pytest.fixture
def held(met: Any, targets: list[Any]) -> LegalHold:
    response = met.client.post(URL, {"pseudonyms": [targets[0].pseudonym],
                                     "case_reference": "OP-KESTREL-0042"}, format="json")
    assert response.status_code == 201, response.content
    return LegalHold.objects.get(pk=response.json()[0]["id"])


def test_a_hold_blocks_erasure_for_90_days(met: Any, platform_a: Any, targets: list[Any],
                                           held: LegalHold) -> None:
    assert held.agency == met.agency
    assert timedelta(days=89, hours=23) < held.expires_at - held.placed_at <= timedelta(days=90)
    response = platform_a.client.delete(f"/api/v1/enrolments/{targets[0].pseudonym}")
    assert response.status_code == 409
    assert response.json()["code"] == "legal_hold"
    assert platform_a.client.get(f"/api/v1/enrolments/{targets[0].pseudonym}").json()[
        "legal_hold"] is True
    placed = AuditEvent.objects.get(event_type="legal_hold.placed")
    assert targets[0].pseudonym.encode() not in bytes(placed.entry)
    assert json.loads(bytes(placed.entry))["details"]["jurisdiction"] == "GB-EAW"


def test_staff_extend_once_then_lift(cast: Any, platform_a: Any, targets: list[Any],
                                     held: LegalHold) -> None:
    extended = cast.client("alice").post(f"{URL}/{held.pk}/extend", {"reason": "Trial date"},
                                         format="json")
    assert extended.status_code == 200
    assert extended.json()["extended"] is True
    held.refresh_from_db()
    assert held.expires_at - held.placed_at == timedelta(days=180)
    again = cast.client("bob").post(f"{URL}/{held.pk}/extend", {}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "legal_hold_already_extended"
    lifted = cast.client("bob").post(f"{URL}/{held.pk}/lift", {}, format="json")
    assert lifted.status_code == 200
    assert lifted.json()["is_active"] is False
    assert cast.client("bob").post(f"{URL}/{held.pk}/lift", {}, format="json").status_code == 409
    assert platform_a.client.delete(
        f"/api/v1/enrolments/{targets[0].pseudonym}").status_code == 200
    types = list(AuditEvent.objects.filter(event_type__startswith="legal_hold.")
                 .order_by("id").values_list("event_type", flat=True))
    assert types == ["legal_hold.placed", "legal_hold.extended", "legal_hold.lifted"]


def test_a_lapsed_hold_cannot_be_extended(cast: Any, platform_a: Any, targets: list[Any],
                                          held: LegalHold) -> None:
    LegalHold.objects.filter(pk=held.pk).update(
        placed_at=timezone.now() - timedelta(days=91),
        expires_at=timezone.now() - timedelta(days=1))
    response = cast.client("alice").post(f"{URL}/{held.pk}/extend", {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "legal_hold_not_active"
    assert platform_a.client.delete(
        f"/api/v1/enrolments/{targets[0].pseudonym}").status_code == 200


def test_agencies_cannot_extend_or_lift_and_auditors_only_read(cast: Any, met: Any,
                                                               held: LegalHold) -> None:
    assert met.client.post(f"{URL}/{held.pk}/extend", {}, format="json").status_code == 403
    assert met.client.post(f"{URL}/{held.pk}/lift", {}, format="json").status_code == 403
    assert cast.client("dave").post(f"{URL}/{held.pk}/lift", {}, format="json").status_code == 403
    assert cast.client("dave").get(f"{URL}/{held.pk}").status_code == 200
    assert cast.client("alice").post(URL, {"pseudonyms": ["x"], "case_reference": "y"},
                                     format="json").status_code == 403


def test_agencies_see_their_own_holds(met: Any, fbi: Any, held: LegalHold) -> None:
    assert [h["id"] for h in met.client.get(URL).json()] == [str(held.pk)]
    assert met.client.get(f"{URL}/{held.pk}").status_code == 200
    assert fbi.client.get(URL).json() == []
    assert fbi.client.get(f"{URL}/{held.pk}").status_code == 404


def test_a_second_hold_by_the_same_agency_is_refused(met: Any, fbi: Any, targets: list[Any],
                                                     held: LegalHold) -> None:
    body = {"pseudonyms": [targets[1].pseudonym, targets[0].pseudonym], "case_reference": "x"}
    response = met.client.post(URL, body, format="json")
    assert response.status_code == 409
    assert response.json()["positions"] == [1]
    assert LegalHold.objects.count() == 1
    # Another agency's preservation request is independent.
    assert fbi.client.post(URL, body, format="json").status_code == 201


def test_unknown_pseudonyms_and_disabled_jurisdictions(met: Any, targets: list[Any]) -> None:
    from escrow.crypto.pseudonym import pseudonym_derive
    from tests.legal.conftest import key_client

    unknown = pseudonym_derive(platform_key=b"k" * 32, record_id=b"r" * 16)
    response = met.client.post(URL, {"pseudonyms": [unknown], "case_reference": "x"},
                               format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_pseudonym"
    _, key = factories.agency_with_key(name="Police Scotland", jurisdiction="GB-SCT",
                                       enabled=False)
    response = key_client(key).post(URL, {"pseudonyms": [targets[0].pseudonym],
                                          "case_reference": "x"}, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "jurisdiction_not_enabled"
    assert not LegalHold.objects.exists()
