"""Legal holds: agencies preserve enrolments; staff extend once or lift; erasure waits."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from escrow.log.events import sealed_detail_open
from escrow.log.models import AuditEvent
from escrow.vault.models import LegalHold
from escrow.vault.selectors import UnknownPseudonyms
from escrow.vault.services import holds
from escrow.vault.services.enrolment import enrolment_erase
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


# Rules of the holds service itself, called directly (mutation testing, tests/mutation.py,
# found them unguarded behind the API's own permission checks).


def _events(kind: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=f"legal_hold.{kind}").order_by("id"))


def test_a_hold_covers_one_enrolment_once_however_it_is_spelt(cast: Any, met: Any,
                                                              targets: list[Any]) -> None:
    alice = cast.user("alice")
    placed = holds.legal_hold_place(
        agency=met.agency, pseudonyms=[targets[0].pseudonym, targets[0].pseudonym.lower(),
                                       targets[2].pseudonym],
        case_reference="OP-HERON-7", placed_by=alice,
    )
    assert [h.enrolment_id for h in placed] == [targets[0].pk, targets[2].pk]
    assert all(h.placed_by_id == alice.pk and h.agency_id == met.agency.pk for h in placed)
    assert all(h.expires_at - h.placed_at == timedelta(days=90) for h in placed)
    first = _events("placed")[0]
    # A paper request is logged as its intake officer's act, and dated when placed.
    assert (first.actor_kind, first.actor_ref, first.actor_role) == (
        "staff", str(alice.pk), "intake_officer")
    assert first.object_ref == f"legal_hold:{placed[0].pk}"
    assert first.occurred_at == placed[0].placed_at
    assert json.loads(bytes(first.entry))["details"] == {
        "jurisdiction": "GB-EAW", "expires_at": placed[0].expires_at.isoformat()}
    opened = sealed_detail_open(first)
    assert opened is not None
    assert opened["detail"] == {"agency": str(met.agency.pk), "pseudonym": targets[0].pseudonym,
                                "enrolment": str(targets[0].pk),
                                "case_reference": "OP-HERON-7"}


def test_a_hold_placed_over_the_api_is_the_agencys_act(met: Any, held: LegalHold) -> None:
    placed = _events("placed")[0]
    assert (placed.actor_kind, placed.actor_ref) == ("agency", str(met.agency.pk))


def test_a_lifted_or_lapsed_hold_does_not_block_a_new_one(cast: Any, met: Any,
                                                          targets: list[Any]) -> None:
    names = [targets[0].pseudonym]
    lifted = holds.legal_hold_place(agency=met.agency, pseudonyms=names, case_reference="a")[0]
    holds.legal_hold_lift(hold=lifted, staff=cast.user("bob"))
    lapsed = holds.legal_hold_place(agency=met.agency, pseudonyms=names, case_reference="b")[0]
    LegalHold.objects.filter(pk=lapsed.pk).update(expires_at=timezone.now())
    renewed = holds.legal_hold_place(agency=met.agency, pseudonyms=names, case_reference="c")
    assert len(renewed) == 1
    assert LegalHold.objects.filter(enrolment=targets[0]).count() == 3


def test_an_enrolment_erased_after_its_pseudonym_resolved_is_not_held(
        met: Any, platform_a: Any, targets: list[Any], monkeypatch: Any) -> None:
    # Erasure won the race between resolving the pseudonym and taking the row lock.
    resolved = [(targets[1].pseudonym, targets[1]), (targets[0].pseudonym, targets[0])]
    monkeypatch.setattr(holds, "pseudonyms_resolve", lambda pseudonyms: resolved)
    enrolment_erase(platform=platform_a.platform, enrolment=targets[0])
    with pytest.raises(UnknownPseudonyms) as refused:
        holds.legal_hold_place(agency=met.agency, pseudonyms=["ignored"], case_reference="x")
    assert refused.value.positions == [1]
    assert not LegalHold.objects.exists()


def test_a_disabled_jurisdiction_cannot_place_a_hold(targets: list[Any]) -> None:
    agency, _ = factories.agency_with_key(name="Police Scotland", jurisdiction="GB-SCT",
                                          enabled=False)
    with pytest.raises(holds.HoldJurisdictionNotEnabled):
        holds.legal_hold_place(agency=agency, pseudonyms=[targets[0].pseudonym],
                               case_reference="x")
    assert not LegalHold.objects.exists()


@pytest.mark.parametrize("action", [holds.legal_hold_extend, holds.legal_hold_lift])
@pytest.mark.parametrize("who", ["dave", "frank"])
def test_only_intake_officers_and_approvers_extend_or_lift_a_hold(
        cast: Any, held: LegalHold, action: Any, who: str) -> None:
    with pytest.raises(holds.HoldRoleRequired):
        action(hold=held, staff=cast.user(who))
    stored = LegalHold.objects.get(pk=held.pk)
    assert (stored.extended, stored.lifted_at) == (False, None)


def test_extending_adds_one_period_once_and_logs_who_and_why(cast: Any, held: LegalHold,
                                                            monkeypatch: Any) -> None:
    checked = timezone.now()
    monkeypatch.setattr(holds, "timezone", SimpleNamespace(now=lambda: checked))
    extended = holds.legal_hold_extend(hold=held, staff=cast.user("bob"), reason="Trial date")
    assert extended.expires_at == held.expires_at + timedelta(days=90)
    event = _events("extended")[0]
    # Dated when the hold was checked to be in force, under its lock.
    assert event.occurred_at == checked
    assert (event.actor_kind, event.actor_ref, event.actor_role) == (
        "staff", str(cast.user("bob").pk), "approver")
    assert event.object_ref == f"legal_hold:{held.pk}"
    assert json.loads(bytes(event.entry))["details"] == {
        "expires_at": extended.expires_at.isoformat()}
    opened = sealed_detail_open(event)
    assert opened is not None
    assert opened["detail"] == {"reason": "Trial date"}
    with pytest.raises(holds.HoldAlreadyExtended):
        holds.legal_hold_extend(hold=held, staff=cast.user("alice"))
    assert LegalHold.objects.get(pk=held.pk).expires_at == extended.expires_at


def test_lifting_ends_the_hold_at_once_and_logs_who_and_why(cast: Any,
                                                            held: LegalHold) -> None:
    before = timezone.now()
    lifted = holds.legal_hold_lift(hold=held, staff=cast.user("alice"), reason="Case closed")
    stored = LegalHold.objects.get(pk=held.pk)
    assert stored.lifted_at is not None
    assert stored.lifted_at == lifted.lifted_at
    assert before <= stored.lifted_at <= timezone.now()
    event = _events("lifted")[0]
    assert (event.actor_ref, event.actor_role) == (str(cast.user("alice").pk),
                                                   "intake_officer")
    assert event.object_ref == f"legal_hold:{held.pk}"
    assert event.occurred_at == stored.lifted_at
    opened = sealed_detail_open(event)
    assert opened is not None
    assert opened["detail"] == {"reason": "Case closed"}
    with pytest.raises(holds.HoldNotActive):
        holds.legal_hold_extend(hold=held, staff=cast.user("bob"))


def test_without_a_reason_nothing_is_sealed(cast: Any, held: LegalHold) -> None:
    holds.legal_hold_extend(hold=held, staff=cast.user("bob"))
    holds.legal_hold_lift(hold=held, staff=cast.user("bob"))
    assert [sealed_detail_open(e) for e in _events("extended") + _events("lifted")] == [
        None, None]


def test_a_hold_that_lapses_this_instant_is_no_longer_active(cast: Any, held: LegalHold,
                                                            monkeypatch: Any) -> None:
    instant = timezone.now()
    LegalHold.objects.filter(pk=held.pk).update(expires_at=instant)
    monkeypatch.setattr(holds, "timezone", SimpleNamespace(now=lambda: instant))
    with pytest.raises(holds.HoldNotActive):
        holds.legal_hold_lift(hold=held, staff=cast.user("bob"))
    assert LegalHold.objects.get(pk=held.pk).lifted_at is None
