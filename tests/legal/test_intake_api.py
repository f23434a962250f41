"""Intake: agencies file over the API, intake officers enter paper requests; refusals counted."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Agency
from escrow.crypto.sealing import BlobUnsealError, blob_unseal
from escrow.keys import service_key
from escrow.log.events import sealed_detail_open
from escrow.log.models import AuditEvent
from legal_requests.models import DisclosureRequest, LegalBasis
from legal_requests.services import intake
from legal_requests.services.intake import document_associated_data
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/api/v1/disclosure-requests"


def details(event: AuditEvent) -> dict[str, Any]:
    return json.loads(bytes(event.entry))["details"]


def test_an_agency_files_a_request(met: Any, targets: list[Any]) -> None:
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym])
    response = met.client.post(URL, payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "received"
    assert body["channel"] == "api"
    assert body["legal_basis"] == "GB-EAW:production-order"
    assert body["targets"] == [targets[0].pseudonym]
    assert body["approvals_required"] == 2
    assert body["reference"].startswith("DR-")
    # Agencies do not see staff identities.
    assert "entered_by" not in body
    assert "decisions" not in body
    assert response["Location"].endswith(body["id"])

    stored = DisclosureRequest.objects.get(pk=body["id"])
    digest = hashlib.sha256(factories.LEGAL_DOCUMENT).digest()
    assert bytes(stored.document_sha256) == digest
    assert body["document"]["sha256"] == digest.hex()
    # Stored encrypted, bound to its row, and opens with the document key.
    assert factories.LEGAL_DOCUMENT not in bytes(stored.document_sealed)
    assert blob_unseal(
        key=service_key("legal-document"), sealed=bytes(stored.document_sealed),
        associated_data=document_associated_data(stored.pk),
    ) == factories.LEGAL_DOCUMENT
    event = AuditEvent.objects.get(event_type="disclosure.received")
    logged = details(event)
    assert logged["document_sha256"] == digest.hex()
    assert logged["jurisdiction"] == "GB-EAW"
    assert logged["target_count"] == 1
    assert event.actor_kind == "agency"
    # No personal data in the public entry: pseudonym, officer and case stay sealed.
    entry = bytes(event.entry)
    for secret in (targets[0].pseudonym, "Sam Example", "OP-KESTREL", "sam.example"):
        assert secret.encode() not in entry
    assert event.commitment is not None


def test_a_request_may_name_pseudonyms_of_several_platforms(met: Any, targets: list[Any]
                                                            ) -> None:
    pseudonyms = [t.pseudonym for t in targets]
    # A pasted pseudonym in lower case with typographic dashes still resolves.
    pseudonyms[2] = pseudonyms[2].lower().replace("-", "\u2013")
    response = met.client.post(URL, factories.disclosure_payload(targets=pseudonyms),
                               format="json")
    assert response.status_code == 201, response.content
    assert response.json()["targets"] == [t.pseudonym for t in targets]
    stored = DisclosureRequest.objects.get(pk=response.json()["id"])
    assert {t.enrolment.platform_id for t in stored.targets.all()} == {
        targets[0].platform_id, targets[2].platform_id
    }


def test_an_intake_officer_enters_a_paper_request(cast: Any, met: Any, targets: list[Any]
                                                  ) -> None:
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym],
                                           agency=str(met.agency.pk))
    response = cast.client("alice").post(URL, payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["channel"] == "paper"
    assert body["entered_by"] == cast.user("alice").pk
    assert body["agency_callback_phone"] == met.agency.callback_phone
    event = AuditEvent.objects.get(event_type="disclosure.received")
    assert (event.actor_kind, event.actor_role) == ("staff", "intake_officer")


def test_a_paper_request_must_name_its_agency(cast: Any, targets: list[Any]) -> None:
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym])
    response = cast.client("alice").post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "agency"


def test_an_agency_cannot_file_for_another_agency(met: Any, fbi: Any, targets: list[Any]
                                                  ) -> None:
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym],
                                           agency=str(fbi.agency.pk))
    response = met.client.post(URL, payload, format="json")
    assert response.status_code == 400
    assert not DisclosureRequest.objects.exists()


@pytest.mark.parametrize("who", ["bob", "dave", "frank"])
def test_only_intake_officers_enter_paper_requests(cast: Any, met: Any, targets: list[Any],
                                                   who: str) -> None:
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym],
                                           agency=str(met.agency.pk))
    response = cast.client(who).post(URL, payload, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not DisclosureRequest.objects.exists()


def test_platform_keys_and_anonymous_callers_cannot_file(platform_a: Any, targets: list[Any]
                                                         ) -> None:
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym])
    assert platform_a.client.post(URL, payload, format="json").status_code == 403
    assert APIClient().post(URL, payload, format="json").status_code == 401


def test_a_disabled_jurisdiction_is_refused_and_counted(targets: list[Any]) -> None:
    from tests.legal.conftest import key_client

    _agency, key = factories.agency_with_key(name="Police Scotland", jurisdiction="GB-SCT",
                                            enabled=False)
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym],
                                           legal_basis="GB-SCT:production-order")
    response = key_client(key).post(URL, payload, format="json")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "jurisdiction_not_enabled"
    assert "GB-SCT" in body["detail"]
    assert response["Content-Type"] == "application/problem+json"
    assert not DisclosureRequest.objects.exists()
    refused = AuditEvent.objects.get(event_type="disclosure.refused_at_intake")
    assert details(refused) == {"jurisdiction": "GB-SCT", "reason": "jurisdiction_not_enabled",
                                "channel": "api", "legal_basis": "GB-SCT:production-order"}


def test_fields_beyond_the_legal_basis_are_refused_by_name(fbi: Any, targets: list[Any]
                                                           ) -> None:
    payload = factories.disclosure_payload(
        targets=[targets[0].pseudonym], legal_basis="US:subpoena",
        requested_fields=["given_name", "document_number", "email"],
    )
    response = fbi.client.post(URL, payload, format="json")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "fields_not_allowed"
    assert body["disallowed_fields"] == ["document_number", "email"]
    assert body["releasable_fields"] == ["given_name", "family_name", "postal_address"]
    assert not DisclosureRequest.objects.exists()
    refused = AuditEvent.objects.get(event_type="disclosure.refused_at_intake")
    assert details(refused)["reason"] == "fields_not_allowed"


def test_a_legal_basis_of_another_jurisdiction_is_refused(met: Any, targets: list[Any]) -> None:
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym],
                                           legal_basis="US:search-warrant")
    response = met.client.post(URL, payload, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "legal_basis_unavailable"


def test_an_unknown_pseudonym_is_refused_without_saying_more(met: Any, targets: list[Any]
                                                             ) -> None:
    from escrow.crypto.pseudonym import pseudonym_derive

    unknown = pseudonym_derive(platform_key=b"k" * 32, record_id=b"r" * 16)
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym, unknown])
    response = met.client.post(URL, payload, format="json")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "unknown_pseudonym"
    assert body["positions"] == [1]
    assert unknown not in response.content.decode()
    assert not DisclosureRequest.objects.exists()
    assert details(AuditEvent.objects.get(event_type="disclosure.refused_at_intake"))[
        "reason"] == "unknown_pseudonym"


def test_an_erased_enrolment_answers_like_an_unknown_one(met: Any, platform_a: Any,
                                                         targets: list[Any]) -> None:
    erased = targets[1]
    assert platform_a.client.delete(f"/api/v1/enrolments/{erased.pseudonym}").status_code == 200
    payload = factories.disclosure_payload(targets=[erased.pseudonym])
    response = met.client.post(URL, payload, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_pseudonym"


def test_a_malformed_pseudonym_is_a_400(met: Any, targets: list[Any]) -> None:
    mistyped = targets[0].pseudonym[:-1] + ("A" if targets[0].pseudonym[-1] != "A" else "B")
    response = met.client.post(URL, factories.disclosure_payload(targets=[mistyped]),
                               format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_pseudonym"


def test_an_expired_document_is_refused(met: Any, targets: list[Any]) -> None:
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym],
                                           expires_at="2020-01-01T00:00:00Z",
                                           issued_on="2019-12-01")
    response = met.client.post(URL, payload, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "document_expired"


def test_an_emergency_needs_its_facts(met: Any, targets: list[Any]) -> None:
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym],
                                           legal_basis="GB-EAW:emergency")
    response = met.client.post(URL, payload, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "emergency_facts_missing"
    payload["emergency_facts"] = "Caller threatened to kill a named child tonight."
    response = met.client.post(URL, payload, format="json")
    assert response.status_code == 201
    assert response.json()["is_emergency"] is True
    assert response.json()["approvals_required"] == 1


def test_document_limits(met: Any, targets: list[Any], settings: Any) -> None:
    settings.DISCLOSURE_DOCUMENT_MAX_BYTES = 16
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym])
    response = met.client.post(URL, payload, format="json")
    assert response.status_code == 413
    assert response.json()["code"] == "document_too_large"
    payload["document"]["content_base64"] = "not base64!"
    response = met.client.post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "document.content_base64"


def test_unknown_fields_and_bad_values_are_400(met: Any, targets: list[Any]) -> None:
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym], colour="blue")
    assert met.client.post(URL, payload, format="json").status_code == 400
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym],
                                           requested_fields=["shoe_size"])
    response = met.client.post(URL, payload, format="json")
    assert response.status_code == 400
    assert "shoe_size" not in response.content.decode()


def test_nondisclosure_is_recorded(met: Any, targets: list[Any]) -> None:
    payload = factories.disclosure_payload(
        targets=[targets[0].pseudonym],
        nondisclosure={"until": "2027-06-30", "basis": "Court order of 2026-11-01"},
    )
    response = met.client.post(URL, payload, format="json")
    assert response.status_code == 201
    assert response.json()["nondisclosure_until"] == "2027-06-30"
    assert details(AuditEvent.objects.get(event_type="disclosure.received"))["nondisclosure"]


def test_agencies_see_only_their_own_requests(cast: Any, met: Any, fbi: Any,
                                              targets: list[Any]) -> None:
    mine = factories.disclosure_request(agency=met.agency, targets=[targets[0]])
    theirs = factories.disclosure_request(agency=fbi.agency, targets=[targets[1]],
                                          legal_basis="US:subpoena")
    listed = met.client.get(URL)
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()] == [str(mine.pk)]
    assert met.client.get(f"{URL}/{mine.pk}").status_code == 200
    hidden = met.client.get(f"{URL}/{theirs.pk}")
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "not_found"
    # Staff see both; custodians (no reading role) see none.
    assert len(cast.client("dave").get(URL).json()) == 2
    assert len(cast.client("bob").get(URL, {"state": "received"}).json()) == 2
    assert cast.client("frank").get(URL).status_code == 403


def test_legal_bases_are_listed_per_jurisdiction(cast: Any, met: Any) -> None:
    codes = [b["code"] for b in met.client.get("/api/v1/legal-bases").json()]
    assert codes == ["GB-EAW:court-order", "GB-EAW:emergency", "GB-EAW:ipa-part3",
                     "GB-EAW:production-order"]
    subpoena = next(b for b in cast.client("dave").get("/api/v1/legal-bases").json()
                    if b["code"] == "US:subpoena")
    assert subpoena["releasable_fields"] == ["given_name", "family_name", "postal_address"]
    assert "document_number" not in subpoena["releasable_fields"]


def test_the_officer_needs_a_rank_or_badge(met: Any, targets: list[Any]) -> None:
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym])
    payload["officer"] = {**payload["officer"], "rank": "", "badge": ""}
    response = met.client.post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "officer"
    payload["officer"]["badge"] = "MP4471"
    assert met.client.post(URL, payload, format="json").status_code == 201


# Rules of the intake service itself, called directly (mutation testing, tests/mutation.py,
# found them unguarded: the API's own checks, or no test at all, stood in for them).


@pytest.fixture
def intake_clock(monkeypatch: Any) -> datetime:
    """Freeze the intake service's clock (only its own) at a known instant."""
    instant = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(intake, "timezone", SimpleNamespace(now=lambda: instant))
    return instant


def _refusals() -> list[dict[str, Any]]:
    return [details(e) for e in
            AuditEvent.objects.filter(event_type="disclosure.refused_at_intake").order_by("id")]


@pytest.mark.parametrize("standing", [{"verified_at": None}, {"is_active": False}])
def test_only_an_active_verified_agency_can_file(met: Any, targets: list[Any],
                                                 standing: dict[str, Any]) -> None:
    Agency.objects.filter(pk=met.agency.pk).update(**standing)
    submission = factories.disclosure_submission(pseudonyms=[targets[0].pseudonym])
    with pytest.raises(intake.AgencyInactive):
        intake.disclosure_create(agency=Agency.objects.get(pk=met.agency.pk),
                                 submission=submission, channel="api")
    assert not DisclosureRequest.objects.exists()
    assert [r["reason"] for r in _refusals()] == ["agency_inactive"]


def test_a_disabled_legal_basis_is_refused(met: Any, targets: list[Any]) -> None:
    LegalBasis.objects.filter(code="GB-EAW:production-order").update(is_enabled=False)
    submission = factories.disclosure_submission(pseudonyms=[targets[0].pseudonym])
    with pytest.raises(intake.LegalBasisUnavailable):
        intake.disclosure_create(agency=met.agency, submission=submission, channel="api")
    assert not DisclosureRequest.objects.exists()


def test_an_unknown_legal_basis_code_never_reaches_the_public_log(met: Any,
                                                                  targets: list[Any]) -> None:
    # The code is the agency's free text; only a code the operator defined is logged.
    submission = factories.disclosure_submission(pseudonyms=[targets[0].pseudonym],
                                                 legal_basis="GB-EAW:Op Kestrel, DC Example")
    with pytest.raises(intake.LegalBasisUnavailable):
        intake.disclosure_create(agency=met.agency, submission=submission, channel="api")
    assert _refusals() == [{"jurisdiction": "GB-EAW", "reason": "legal_basis_unavailable",
                            "channel": "api", "legal_basis": ""}]
    refused = AuditEvent.objects.get(event_type="disclosure.refused_at_intake")
    assert (refused.object_ref, refused.actor_kind, refused.actor_ref) == (
        f"agency:{met.agency.pk}", "agency", str(met.agency.pk))


def test_a_document_expiring_at_the_moment_of_intake_is_expired(
        met: Any, targets: list[Any], intake_clock: datetime) -> None:
    submission = factories.disclosure_submission(pseudonyms=[targets[0].pseudonym],
                                                 expires_at=intake_clock)
    with pytest.raises(intake.DocumentExpired):
        intake.disclosure_create(agency=met.agency, submission=submission, channel="api")
    later = replace(submission, expires_at=intake_clock + timedelta(microseconds=1))
    assert intake.disclosure_create(agency=met.agency, submission=later, channel="api")


def test_a_document_issued_today_is_valid_and_one_issued_tomorrow_is_not(
        met: Any, targets: list[Any], intake_clock: datetime) -> None:
    today = intake_clock.date()
    tomorrow = factories.disclosure_submission(pseudonyms=[targets[0].pseudonym],
                                               issued_on=today + timedelta(days=1))
    with pytest.raises(intake.DocumentExpired):
        intake.disclosure_create(agency=met.agency, submission=tomorrow, channel="api")
    # Issued today and expiring later today (an emergency authority) is valid.
    issued_today = replace(tomorrow, issued_on=today,
                           expires_at=intake_clock + timedelta(hours=1))
    assert intake.disclosure_create(agency=met.agency, submission=issued_today,
                                    channel="api").issued_on == today


def test_a_document_of_exactly_the_size_limit_is_accepted(met: Any, targets: list[Any],
                                                           settings: Any) -> None:
    submission = factories.disclosure_submission(pseudonyms=[targets[0].pseudonym])
    settings.DISCLOSURE_DOCUMENT_MAX_BYTES = len(factories.LEGAL_DOCUMENT) - 1
    with pytest.raises(intake.DocumentTooLarge):
        intake.disclosure_create(agency=met.agency, submission=submission, channel="api")
    settings.DISCLOSURE_DOCUMENT_MAX_BYTES = len(factories.LEGAL_DOCUMENT)
    assert intake.disclosure_create(agency=met.agency, submission=submission, channel="api")


def test_a_paper_request_keeps_exactly_what_the_officer_entered(
        cast: Any, met: Any, targets: list[Any], intake_clock: datetime) -> None:
    alice = cast.user("alice")
    submission = factories.disclosure_submission(
        pseudonyms=[targets[0].pseudonym, targets[2].pseudonym],
        legal_basis="GB-EAW:emergency", fields=("given_name", "phone"),
        officer=intake.Officer(name="DS Ada Byron", email="ada.byron@police.example",
                               phone="+442079460001", rank="Detective Sergeant",
                               badge="MP1815"),
        case_reference="OP-HERON-7", issuing_authority="Duty Superintendent",
        document=intake.LegalDocument(name="authority.pdf", content_type="application/pdf",
                                      content=factories.LEGAL_DOCUMENT),
        justification="A named child is at risk tonight.",
        nondisclosure_until=intake_clock.date() + timedelta(days=60),
        nondisclosure_basis="Order of the court", emergency_facts="Threat to life at 22:00.",
    )
    stored = intake.disclosure_create(agency=met.agency, submission=submission,
                                      channel="paper", entered_by=alice)
    stored = DisclosureRequest.objects.get(pk=stored.pk)
    assert re.fullmatch(rf"DR-{intake_clock.year}-[0-9A-HJKMNP-TV-Z]{{8}}", stored.reference)
    assert {f: getattr(stored, f) for f in (
        "channel", "entered_by_id", "officer_name", "officer_rank", "officer_badge",
        "officer_email", "officer_phone", "case_reference", "issuing_authority",
        "document_name", "document_content_type", "document_size", "issued_on", "expires_at",
        "requested_fields", "justification", "nondisclosure_until", "nondisclosure_basis",
        "is_emergency", "emergency_facts",
    )} == {
        "channel": "paper", "entered_by_id": alice.pk, "officer_name": "DS Ada Byron",
        "officer_rank": "Detective Sergeant", "officer_badge": "MP1815",
        "officer_email": "ada.byron@police.example", "officer_phone": "+442079460001",
        "case_reference": "OP-HERON-7", "issuing_authority": "Duty Superintendent",
        "document_name": "authority.pdf", "document_content_type": "application/pdf",
        "document_size": len(factories.LEGAL_DOCUMENT), "issued_on": submission.issued_on,
        "expires_at": submission.expires_at, "requested_fields": ["given_name", "phone"],
        "justification": "A named child is at risk tonight.",
        "nondisclosure_until": submission.nondisclosure_until,
        "nondisclosure_basis": "Order of the court", "is_emergency": True,
        "emergency_facts": "Threat to life at 22:00.",
    }


def test_the_received_event_logs_counts_in_the_clear_and_seals_who_and_what(
        cast: Any, met: Any, targets: list[Any], intake_clock: datetime) -> None:
    alice = cast.user("alice")
    submission = factories.disclosure_submission(
        pseudonyms=[targets[0].pseudonym, targets[0].pseudonym.lower(), targets[2].pseudonym],
        officer=intake.Officer(name="DS Ada Byron", email="ada.byron@police.example",
                               phone="+442079460001", rank="Detective Sergeant",
                               badge="MP1815"),
        case_reference="OP-HERON-7", issuing_authority="Duty Superintendent",
    )
    stored = intake.disclosure_create(agency=met.agency, submission=submission,
                                      channel="paper", entered_by=alice)
    event = AuditEvent.objects.get(event_type="disclosure.received")
    # Dated when intake checked the request, logged against the request, by its officer.
    assert event.occurred_at == intake_clock
    assert event.object_ref == stored.object_ref
    assert (event.actor_kind, event.actor_ref) == ("staff", str(alice.pk))
    assert details(event) == {
        "reference": stored.reference, "channel": "paper", "jurisdiction": "GB-EAW",
        "legal_basis": "GB-EAW:production-order", "emergency": False,
        "fields": ["given_name", "family_name"], "target_count": 2, "nondisclosure": False,
        "document_sha256": hashlib.sha256(factories.LEGAL_DOCUMENT).hexdigest(),
        "issued_on": submission.issued_on.isoformat(),
        "expires_at": submission.expires_at.isoformat(),
    }
    opened = sealed_detail_open(event)
    assert opened is not None
    assert opened["detail"] == {
        "agency": str(met.agency.pk), "case_reference": "OP-HERON-7",
        "officer": {"name": "DS Ada Byron", "email": "ada.byron@police.example",
                    "phone": "+442079460001", "rank": "Detective Sergeant",
                    "badge": "MP1815"},
        "issuing_authority": "Duty Superintendent",
        "pseudonyms": [targets[0].pseudonym, targets[2].pseudonym],
        "enrolments": [str(targets[0].pk), str(targets[2].pk)],
    }


def test_a_sealed_document_opens_only_for_its_own_request(met: Any, targets: list[Any]
                                                          ) -> None:
    first = factories.disclosure_request(agency=met.agency, targets=[targets[0]])
    second = factories.disclosure_request(agency=met.agency, targets=[targets[1]])
    key = service_key("legal-document")
    # The binding is a stored format: documents sealed by earlier releases must still open.
    assert blob_unseal(
        key=key, sealed=bytes(first.document_sealed),
        associated_data=b"disclosure-document\x00" + str(first.pk).encode(),
    ) == factories.LEGAL_DOCUMENT
    with pytest.raises(BlobUnsealError):
        blob_unseal(key=key, sealed=bytes(first.document_sealed),
                    associated_data=document_associated_data(second.pk))


def test_a_reference_collision_draws_another_reference(
        met: Any, targets: list[Any], monkeypatch: Any) -> None:
    taken = factories.disclosure_request(agency=met.agency, targets=[targets[0]]).reference
    draws = iter([taken, taken, "DR-2026-FRESH000"])
    monkeypatch.setattr(intake, "_new_reference", lambda year: next(draws))
    again = factories.disclosure_request(agency=met.agency, targets=[targets[1]])
    assert again.reference == "DR-2026-FRESH000"


def test_intake_gives_up_after_five_colliding_references(
        met: Any, targets: list[Any], monkeypatch: Any) -> None:
    taken = factories.disclosure_request(agency=met.agency, targets=[targets[0]]).reference
    drawn: list[int] = []

    def always_taken(year: int) -> str:
        drawn.append(year)
        return taken

    monkeypatch.setattr(intake, "_new_reference", always_taken)
    with pytest.raises(RuntimeError):
        factories.disclosure_request(agency=met.agency, targets=[targets[1]])
    assert len(drawn) == 5
    assert DisclosureRequest.objects.count() == 1
