"""The platform enrolment API: every endpoint's success and failure paths."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from escrow.crypto.envelope import FieldContext, SealedField, field_open
from escrow.crypto.release import partial_decrypt, partials_combine, release_context
from escrow.log.models import AuditEvent
from escrow.vault.api.enrolments import EnrolmentCreateApi, enrolment_created_body
from escrow.vault.models import BlindIndex, Enrolment, EscrowKey, LegalHold
from escrow.vault.services.enrolment import EnrolmentResult
from tests import factories
from tests.factories import CANARY, identity_payload

pytestmark = pytest.mark.django_db

URL = "/api/v1/enrolments"


def enrol(client: APIClient, payload: dict[str, Any] | None = None, key: str | None = None
          ) -> Any:
    return client.post(
        URL,
        payload or identity_payload(),
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or factories.idempotency_key(),
    )


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    return body


class TestCreate:
    def test_enrols_and_answers_with_a_pseudonym(self, platform_a: Any) -> None:
        response = enrol(platform_a.client)
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["pseudonym"].startswith("PSN-")
        assert body["status"] == "active"
        assert body["already_enrolled"] is False
        assert body["existing_pseudonyms"] == []
        assert body["banned_match"] is False
        enrolment = Enrolment.objects.get(pseudonym=body["pseudonym"])
        assert enrolment.platform == platform_a.platform
        assert set(enrolment.sealed_fields) == {
            "given_name", "family_name", "date_of_birth", "postal_address", "email", "phone",
            "document_type", "document_number", "document_country", "verification_reference",
        }
        event = AuditEvent.objects.get(event_type="enrolment.created")
        assert event.object_ref == f"enrolment:{enrolment.id}"
        assert event.platform_id == platform_a.platform.id

    @pytest.mark.parametrize("earlier", [[], ["PSN-A", "PSN-B"]])
    def test_the_answer_is_what_the_documented_output_renders(self, earlier: list[str]) -> None:
        enrolment = Enrolment(pseudonym="PSN-C", status=Enrolment.Status.ACTIVE,
                              created_at=timezone.now())
        result = EnrolmentResult(enrolment=enrolment, existing_pseudonyms=earlier,
                                 any_banned=bool(earlier), replayed=False)
        documented = EnrolmentCreateApi.Output({
            "pseudonym": enrolment.pseudonym, "status": enrolment.status,
            "created_at": enrolment.created_at, "already_enrolled": bool(earlier),
            "existing_pseudonyms": earlier, "banned_match": bool(earlier),
        }).data
        assert json.dumps(enrolment_created_body(result)) == json.dumps(documented)

    def test_sealed_fields_open_only_with_k_custodians(
        self, platform_a: Any, escrow_keypair: factories.EscrowKeyPair
    ) -> None:
        body = enrol(platform_a.client).json()
        enrolment = Enrolment.objects.get(pseudonym=body["pseudonym"])
        sealed = SealedField.from_bytes(base64.b64decode(enrolment.sealed_fields["email"]))
        context = release_context(request_id="test-request", approval_log_index=7)
        points = [sealed.ephemeral_point]
        partials = [
            partial_decrypt(share=share, public_key=escrow_keypair.public_key,
                            points=points, context=context)
            for share in escrow_keypair.shares[:3]
        ]
        (shared_point,) = partials_combine(
            partials=partials, public_key=escrow_keypair.public_key, points=points,
            context=context,
        )
        field_context = FieldContext(
            record_id=str(enrolment.id), platform_id=str(platform_a.platform.id),
            field_name="email", epoch=enrolment.key_epoch,
        )
        assert field_open(sealed=sealed, context=field_context,
                          public_key=escrow_keypair.public_key,
                          shared_point=shared_point) == CANARY["email"].encode()

    def test_minimal_identity_is_enough(self, platform_a: Any) -> None:
        payload = {
            "identity": {"email": "someone@example.org"},
            "evidence": identity_payload()["evidence"],
        }
        response = enrol(platform_a.client, payload)
        assert response.status_code == 201, response.content
        enrolment = Enrolment.objects.get(pseudonym=response.json()["pseudonym"])
        assert set(enrolment.sealed_fields) == {"email", "verification_reference"}

    def test_same_person_again_reports_the_earlier_pseudonym(self, platform_a: Any) -> None:
        first = enrol(platform_a.client).json()["pseudonym"]
        payload = identity_payload(email="other.address@example.org", phone="+447700900999")
        second = enrol(platform_a.client, payload).json()
        assert second["already_enrolled"] is True
        assert second["existing_pseudonyms"] == [first]
        assert second["banned_match"] is False

    def test_ban_evasion_is_flagged(self, platform_a: Any) -> None:
        first = enrol(platform_a.client).json()["pseudonym"]
        assert platform_a.client.post(f"{URL}/{first}/ban").status_code == 200
        second = enrol(platform_a.client).json()
        assert second["banned_match"] is True
        assert second["existing_pseudonyms"] == [first]

    def test_matches_never_cross_platforms(self, platform_a: Any, platform_b: Any) -> None:
        enrol(platform_a.client)
        other = enrol(platform_b.client).json()
        assert other["already_enrolled"] is False
        digests_a = set(BlindIndex.objects.filter(platform=platform_a.platform)
                        .values_list("digest", flat=True))
        digests_b = set(BlindIndex.objects.filter(platform=platform_b.platform)
                        .values_list("digest", flat=True))
        assert digests_a
        assert digests_b
        assert not {bytes(d) for d in digests_a} & {bytes(d) for d in digests_b}

    def test_without_an_escrow_key_nothing_is_stored(self, platform_a: Any) -> None:
        EscrowKey.objects.update(is_active=False)
        from escrow.vault.selectors import escrow_key_cache_clear

        escrow_key_cache_clear()
        assert_problem(enrol(platform_a.client), 503, "escrow_key_missing")
        assert not Enrolment.objects.exists()


class TestIdempotency:
    def test_retry_returns_the_same_answer_and_stores_nothing(self, platform_a: Any) -> None:
        key = factories.idempotency_key()
        first = enrol(platform_a.client, key=key)
        events = AuditEvent.objects.count()
        second = enrol(platform_a.client, key=key)
        assert second.status_code == 201
        assert second.json() == first.json()
        assert second["Idempotent-Replayed"] == "true"
        assert Enrolment.objects.count() == 1
        assert AuditEvent.objects.count() == events

    def test_a_retry_reports_the_same_matches_when_there_are_more_than_can_be_listed(
        self, platform_a: Any
    ) -> None:
        """Past MAX_REPORTED_MATCHES the answer lists the first ones by pseudonym, the
        first time and on every retry, rather than whichever the database finds first."""
        from escrow.vault.services.enrolment import MAX_REPORTED_MATCHES

        earlier = [enrol(platform_a.client).json()["pseudonym"]
                   for _ in range(MAX_REPORTED_MATCHES + 5)]
        key = factories.idempotency_key()
        first = enrol(platform_a.client, key=key)
        assert first.json()["existing_pseudonyms"] == sorted(earlier)[:MAX_REPORTED_MATCHES]
        second = enrol(platform_a.client, key=key)
        assert second["Idempotent-Replayed"] == "true"
        assert second.json() == first.json()

    def test_same_key_other_body_is_a_conflict(self, platform_a: Any) -> None:
        key = factories.idempotency_key()
        enrol(platform_a.client, key=key)
        response = enrol(platform_a.client, identity_payload(given_name="Someone"), key=key)
        assert_problem(response, 409, "idempotency_key_reused")
        assert Enrolment.objects.count() == 1

    def test_keys_are_per_platform(self, platform_a: Any, platform_b: Any) -> None:
        key = factories.idempotency_key()
        a = enrol(platform_a.client, key=key).json()
        b = enrol(platform_b.client, key=key).json()
        assert a["pseudonym"] != b["pseudonym"]

    @pytest.mark.parametrize("key", [None, "short", "x" * 256, "has space in it"])
    def test_key_is_required_and_well_formed(self, platform_a: Any, key: str | None) -> None:
        headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
        response = platform_a.client.post(URL, identity_payload(), format="json", **headers)
        assert_problem(response, 400, "idempotency_key_required")


class TestValidation:
    @pytest.mark.parametrize(
        ("mutate", "field"),
        [
            (lambda p: p["identity"].update(email="not-an-email"), "identity.email"),
            (lambda p: p["identity"].update(phone="0770"), "identity.phone"),
            (lambda p: p["identity"].update(date_of_birth="2999-01-01"),
             "identity.date_of_birth"),
            (lambda p: p["identity"].update(date_of_birth="12/04/1987"),
             "identity.date_of_birth"),
            (lambda p: p["identity"].update(nickname="x"), "identity.nickname"),
            (lambda p: p["identity"]["document"].update(type="library_card"),
             "identity.document.type"),
            (lambda p: p["identity"]["postal_address"].update(country="gbr"),
             "identity.postal_address.country"),
            (lambda p: p["evidence"].update(assurance_level="ultra"),
             "evidence.assurance_level"),
            (lambda p: p["evidence"].pop("reference"), "evidence.reference"),
            (lambda p: p.pop("evidence"), "evidence"),
            (lambda p: p["identity"].update(given_name="x" * 201), "identity.given_name"),
        ],
    )
    def test_bad_fields_are_named(self, platform_a: Any, mutate: Any, field: str) -> None:
        payload = identity_payload()
        mutate(payload)
        body = assert_problem(enrol(platform_a.client, payload), 400, "validation_error")
        assert field in [e["field"] for e in body["errors"]]
        assert not Enrolment.objects.exists()

    def test_an_identity_with_nothing_identifying_is_refused(self, platform_a: Any) -> None:
        payload = {"identity": {"given_name": "Ann"}, "evidence": identity_payload()["evidence"]}
        assert_problem(enrol(platform_a.client, payload), 400, "validation_error")

    @pytest.mark.parametrize("raw", [b"{not json", b"[]", b"null", b'"string"', b"{}"])
    def test_malformed_bodies_are_4xx(self, platform_a: Any, raw: bytes) -> None:
        response = platform_a.client.post(
            URL, raw, content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=factories.idempotency_key(),
        )
        assert response.status_code == 400
        assert response["Content-Type"].startswith("application/problem+json")

    def test_wrong_media_type_is_415(self, platform_a: Any) -> None:
        response = platform_a.client.post(
            URL, "identity=x", content_type="application/x-www-form-urlencoded",
            HTTP_IDEMPOTENCY_KEY=factories.idempotency_key(),
        )
        assert_problem(response, 415, "unsupported_media_type")

    def test_error_bodies_do_not_echo_submitted_values(self, platform_a: Any) -> None:
        payload = identity_payload()
        payload["identity"]["document"]["type"] = CANARY["family_name"]
        payload["evidence"]["assurance_level"] = CANARY["given_name"]
        payload["identity"]["email"] = CANARY["phone"]
        response = enrol(platform_a.client, payload)
        assert response.status_code == 400
        text = response.content.decode()
        for value in CANARY.values():
            assert value not in text


class TestAuthentication:
    def test_no_key_is_401(self, platform_a: Any) -> None:
        response = APIClient().post(URL, identity_payload(), format="json")
        assert_problem(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"].startswith("Bearer")

    @pytest.mark.parametrize("token", ["garbage", "esk_aaaaaaaaaaaa_" + "A" * 43])
    def test_unknown_key_is_401(self, platform_a: Any, token: str) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.get(f"{URL}/PSN-0000-0000-0000-0000-0")
        assert response.status_code == 401

    def test_a_key_with_the_right_prefix_but_wrong_secret_is_401(self, platform_a: Any) -> None:
        kind, prefix, secret = platform_a.api_key.split("_", 2)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {kind}_{prefix}_{'B' * len(secret)}")
        assert enrol(client).status_code == 401

    def test_revoked_key_is_401(self, platform_a: Any) -> None:
        from accounts.models import ApiCredential
        from accounts.services import credential_revoke

        credential_revoke(credential=ApiCredential.objects.get(platform=platform_a.platform))
        assert enrol(platform_a.client).status_code == 401

    def test_rotated_key_works_until_the_overlap_ends(self, platform_a: Any) -> None:
        from accounts.models import ApiCredential
        from accounts.services import credential_rotate

        old = ApiCredential.objects.get(platform=platform_a.platform)
        successor = credential_rotate(credential=old, overlap=timedelta(hours=1))
        assert enrol(platform_a.client).status_code == 201
        new_client = APIClient()
        new_client.credentials(HTTP_AUTHORIZATION=f"Bearer {successor.api_key}")
        assert enrol(new_client).status_code == 201
        ApiCredential.objects.filter(pk=old.pk).update(expires_at=timezone.now())
        assert enrol(platform_a.client).status_code == 401
        assert enrol(new_client).status_code == 201
        assert AuditEvent.objects.filter(event_type="credential.rotated").count() == 1

    def test_read_only_key_cannot_enrol(self, db: Any, escrow_keypair: Any) -> None:
        _, key = factories.platform_with_key(scopes=["enrolments:read"])
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        assert_problem(enrol(client), 403, "permission_denied")

    def test_agency_key_cannot_enrol(self, platform_a: Any) -> None:
        from accounts.services import agency_create, credential_create

        factories.JurisdictionFactory()
        agency = agency_create(name="Met", jurisdiction_code="GB-EAW",
                               callback_phone="+441632960000", callback_email="d@met.example")
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {credential_create(agency=agency).api_key}"
        )
        assert_problem(enrol(client), 403, "permission_denied")

    def test_rate_limit_is_per_credential(self, platform_a: Any, platform_b: Any,
                                          settings: Any, monkeypatch: Any) -> None:
        monkeypatch.setattr("accounts.throttling._now", lambda: 1_800_000_030.0)
        from rest_framework.settings import api_settings

        rates = {**api_settings.DEFAULT_THROTTLE_RATES, "credential": "3/min"}
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
        url = f"{URL}/PSN-0000-0000-0000-0000-0"
        codes = [platform_a.client.get(url).status_code for _ in range(4)]
        assert codes[-1] == 429
        limited = platform_a.client.get(url)
        assert_problem(limited, 429, "throttled")
        assert int(limited["Retry-After"]) >= 1
        assert platform_b.client.get(url).status_code != 429


class TestStatusBanErase:
    def test_status_of_own_pseudonym(self, platform_a: Any) -> None:
        pseudonym = enrol(platform_a.client).json()["pseudonym"]
        body = platform_a.client.get(f"{URL}/{pseudonym}").json()
        assert body["pseudonym"] == pseudonym
        assert body["status"] == "active"
        assert body["legal_hold"] is False
        assert body["assurance_level"] == "high"

    def test_lenient_spelling_resolves_to_the_same_pseudonym(self, platform_a: Any) -> None:
        pseudonym = enrol(platform_a.client).json()["pseudonym"]
        sloppy = pseudonym.lower().replace("-", "")
        assert platform_a.client.get(f"{URL}/{sloppy}").json()["pseudonym"] == pseudonym

    def test_wrong_check_character_is_400(self, platform_a: Any) -> None:
        pseudonym = enrol(platform_a.client).json()["pseudonym"]
        last = pseudonym[-1]
        typo = pseudonym[:-1] + ("1" if last != "1" else "2")
        assert_problem(platform_a.client.get(f"{URL}/{typo}"), 400, "invalid_pseudonym")

    def test_garbage_pseudonym_is_400(self, platform_a: Any) -> None:
        assert_problem(platform_a.client.get(f"{URL}/hello"), 400, "invalid_pseudonym")

    def test_another_platforms_pseudonym_is_404_for_every_verb(
        self, platform_a: Any, platform_b: Any
    ) -> None:
        pseudonym = enrol(platform_a.client).json()["pseudonym"]
        b = platform_b.client
        assert_problem(b.get(f"{URL}/{pseudonym}"), 404, "not_found")
        assert_problem(b.post(f"{URL}/{pseudonym}/ban"), 404, "not_found")
        assert_problem(b.post(f"{URL}/{pseudonym}/unban"), 404, "not_found")
        assert_problem(b.delete(f"{URL}/{pseudonym}"), 404, "not_found")
        enrolment = Enrolment.objects.get(pseudonym=pseudonym)
        assert enrolment.status == "active"
        assert enrolment.sealed_fields is not None

    def test_ban_and_unban(self, platform_a: Any) -> None:
        pseudonym = enrol(platform_a.client).json()["pseudonym"]
        banned = platform_a.client.post(f"{URL}/{pseudonym}/ban")
        assert banned.json()["status"] == "banned"
        assert banned.json()["banned_at"] is not None
        assert_problem(platform_a.client.post(f"{URL}/{pseudonym}/ban"), 409, "state_conflict")
        unbanned = platform_a.client.post(f"{URL}/{pseudonym}/unban")
        assert unbanned.json()["status"] == "active"
        assert unbanned.json()["banned_at"] is None
        assert_problem(platform_a.client.post(f"{URL}/{pseudonym}/unban"), 409,
                       "state_conflict")
        types = list(AuditEvent.objects.order_by("id").values_list("event_type", flat=True))
        assert types[-2:] == ["enrolment.banned", "enrolment.unbanned"]

    def test_erasure_shreds_the_identity(self, platform_a: Any) -> None:
        pseudonym = enrol(platform_a.client).json()["pseudonym"]
        response = platform_a.client.delete(f"{URL}/{pseudonym}")
        assert response.status_code == 200
        assert response.json()["status"] == "erased"
        enrolment = Enrolment.objects.get(pseudonym=pseudonym)
        assert enrolment.sealed_fields is None
        assert not BlindIndex.objects.filter(enrolment=enrolment).exists()
        assert AuditEvent.objects.filter(event_type="enrolment.erased").count() == 1
        assert_problem(platform_a.client.delete(f"{URL}/{pseudonym}"), 409, "state_conflict")
        assert_problem(platform_a.client.post(f"{URL}/{pseudonym}/ban"), 409, "state_conflict")
        # The erased person is no longer matched on a new signup.
        assert enrol(platform_a.client).json()["already_enrolled"] is False

    def test_legal_hold_blocks_erasure(self, platform_a: Any) -> None:
        pseudonym = enrol(platform_a.client).json()["pseudonym"]
        enrolment = Enrolment.objects.get(pseudonym=pseudonym)
        now = timezone.now()
        LegalHold.objects.create(enrolment=enrolment, placed_at=now,
                                 expires_at=now + timedelta(days=90))
        assert platform_a.client.get(f"{URL}/{pseudonym}").json()["legal_hold"] is True
        assert_problem(platform_a.client.delete(f"{URL}/{pseudonym}"), 409, "legal_hold")
        enrolment.refresh_from_db()
        assert enrolment.sealed_fields is not None
        assert enrolment.status == "active"

    def test_a_lapsed_hold_no_longer_blocks(self, platform_a: Any) -> None:
        pseudonym = enrol(platform_a.client).json()["pseudonym"]
        enrolment = Enrolment.objects.get(pseudonym=pseudonym)
        past = timezone.now() - timedelta(days=100)
        LegalHold.objects.create(enrolment=enrolment, placed_at=past,
                                 expires_at=past + timedelta(days=90))
        assert platform_a.client.delete(f"{URL}/{pseudonym}").status_code == 200


class TestSchema:
    def test_openapi_schema_lists_every_endpoint(self, client: Any) -> None:
        response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        assert response.status_code == 200
        import json

        schema = json.loads(response.content)
        paths = schema["paths"]
        for path in ["/api/v1/enrolments", "/api/v1/enrolments/{pseudonym}",
                     "/api/v1/enrolments/{pseudonym}/ban", "/api/v1/auth/token"]:
            assert path in paths
        create = paths["/api/v1/enrolments"]["post"]
        assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])

    def test_docs_page_is_served(self, client: Any) -> None:
        assert client.get("/api/docs/").status_code == 200


def test_the_enrolment_entry_commits_to_each_fields_point(platform_a: Any) -> None:
    import json

    from escrow.crypto.envelope import point_commitment

    body = enrol(platform_a.client).json()
    enrolment = Enrolment.objects.get(pseudonym=body["pseudonym"])
    event = AuditEvent.objects.get(event_type="enrolment.created")
    logged = json.loads(bytes(event.entry))["details"]["points"]
    assert set(logged) == set(enrolment.sealed_fields)
    for name, blob in enrolment.sealed_fields.items():
        sealed = SealedField.from_bytes(base64.b64decode(blob))
        context = FieldContext(record_id=str(enrolment.id), platform_id=str(enrolment.platform_id),
                               field_name=name, epoch=enrolment.key_epoch)
        assert logged[name] == point_commitment(context=context,
                                                ephemeral_point=sealed.ephemeral_point).hex()
        other = FieldContext(record_id=str(enrolment.id), platform_id=str(enrolment.platform_id),
                             field_name="x" + name, epoch=enrolment.key_epoch)
        assert logged[name] != point_commitment(context=other,
                                                ephemeral_point=sealed.ephemeral_point).hex()


@pytest.mark.parametrize("path", ["/api/v1/nothing", "/api/v2/enrolments", "/api/"])
def test_unknown_api_paths_are_problems(client: Any, settings: Any, path: str) -> None:
    settings.DEBUG = True
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_found"


def test_every_error_response_in_the_schema_has_a_problem_body(schema: dict[str, Any]
                                                               ) -> None:
    missing = [
        (path, method, status)
        for path, item in schema["paths"].items() if path.startswith("/api/v1/")
        for method, operation in item.items()
        for status, response in operation["responses"].items()
        if str(status)[0] in "45"
        and "application/problem+json" not in response.get("content", {})
    ]
    assert missing == []
