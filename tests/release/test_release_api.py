"""The threshold release over the API: challenge, partials, refusal, combination, package."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.utils import timezone

from escrow.crypto.checkpoint import checkpoint_open
from escrow.crypto.merkle import inclusion_verify, leaf_hash
from escrow.crypto.note import verifier_parse
from escrow.crypto.package import content_commitment, package_open_as_recipient
from escrow.crypto.release import PartialDecryption, partial_decrypt, release_context
from escrow.log.keys import log_identity
from escrow.log.models import AuditEvent
from legal_requests.models import CustodianResponse, DisclosureRequest, Release
from legal_requests.services.release import commit as release_commit
from legal_requests.services.release import delivery as release_delivery
from legal_requests.services.release import partials as release_partials
from legal_requests.services.release.commit import ReleaseAborted, release_perform
from legal_requests.services.release.preconditions import (
    NotAShareHolder,
    ReleaseSeparationOfDuties,
    release_check_open,
    release_custodian_shares,
)
from legal_requests.services.release.recovery import disclosures_close_completed, releases_stalled
from legal_requests.services.review import RequestExpired
from tests.release.conftest import RELEASE_TEST_APPS, World, approved_request, enrol, world_build

pytestmark = pytest.mark.django_db(transaction=True, available_apps=RELEASE_TEST_APPS)


def challenge_url(request: DisclosureRequest) -> str:
    return f"/api/v1/releases/{request.pk}/challenge"


def partials_url(request: DisclosureRequest) -> str:
    return f"/api/v1/releases/{request.pk}/partials"


def fetch_challenge(world: World, request: DisclosureRequest, name: str) -> dict[str, Any]:
    response = world.staff_client(world.custodians[name]).get(challenge_url(request))
    assert response.status_code == 200, response.content
    return response.json()


def partial_from(world: World, name: str, challenge: dict[str, Any]) -> dict[str, Any]:
    points = [bytes.fromhex(item["point"]) for item in challenge["items"]]
    context = release_context(
        request_id=challenge["context"]["request_id"],
        approval_log_index=challenge["context"]["approval_log_index"],
    )
    partial = partial_decrypt(share=world.share(name), public_key=world.keypair.public_key,
                              points=points, context=context)
    return partial.to_dict()


def submit(world: World, request: DisclosureRequest, name: str,
           partial: dict[str, Any] | None = None) -> Any:
    if partial is None:
        partial = partial_from(world, name, fetch_challenge(world, request, name))
    return world.staff_client(world.custodians[name]).post(
        partials_url(request), {"partial": partial}, format="json"
    )


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    return body


def open_package(world: World) -> dict[str, Any]:
    response = world.agency_client().get(
        f"/api/v1/disclosure-requests/{Release.objects.get().request_id}/package"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert world.agency_private_key is not None
    plaintext = package_open_as_recipient(
        recipient_private_key=world.agency_private_key,
        sealed=base64.b64decode(body["sealed_package"]),
    )
    return json.loads(plaintext)


class TestChallenge:
    def test_names_exactly_the_approved_points_and_proves_the_approval(
        self, world: World
    ) -> None:
        alice_e, other = enrol(world, 1), enrol(world, 2)
        request = approved_request(world, [alice_e], fields=["family_name", "email"])
        body = fetch_challenge(world, request, "frank")

        assert body["request"]["reference"] == request.reference
        assert body["request"]["fields"] == ["family_name", "email"]
        assert body["request"]["pseudonym_count"] == 1
        assert body["custodian"] == {"index": 1}
        assert [(i["record_id"], i["field"]) for i in body["items"]] == [
            (str(alice_e.id), "family_name"), (str(alice_e.id), "email"),
        ]
        assert body["record_ids"] == [str(alice_e.id)]
        # Points, never ciphertexts; nothing of the other enrolment.
        text = json.dumps(body)
        for sealed in [*alice_e.sealed_fields.values(), *other.sealed_fields.values()]:
            assert sealed not in text
        assert str(other.id) not in text

        # The approval is in a checkpoint signed by the log key.
        verifier = verifier_parse(log_identity().verifier_key)
        checkpoint = checkpoint_open(message=body["approval"]["checkpoint"].encode(),
                                     verifier=verifier, origin=log_identity().origin)
        leaf = base64.b64decode(body["approval"]["leaf"])
        assert leaf == bytes(AuditEvent.objects.get(pk=request.approval_event_id).entry)
        inclusion_verify(
            index=body["approval"]["log_index"], size=checkpoint.size, leaf_hash=leaf_hash(leaf),
            proof=[base64.b64decode(p) for p in body["approval"]["inclusion_proof"]],
            root=checkpoint.root_hash,
        )
        assert body["context"] == {
            "request_id": str(request.pk), "approval_log_index": body["approval"]["log_index"],
        }

    def test_a_non_custodian_is_refused(self, world: World) -> None:
        request = approved_request(world, [enrol(world)])
        response = world.staff_client(world.alice).get(challenge_url(request))
        assert_problem(response, 403, "permission_denied")

    def test_an_approver_of_the_same_request_is_refused(self, world: World) -> None:
        from accounts.services import staff_role_set
        from escrow.vault.models import CustodianKey

        # carol approved the request; she also holds a share (say, after a re-key).
        staff_role_set(user=world.carol, role=world.custodians["frank"].groups.get().name,
                       granted=True)
        CustodianKey.objects.filter(user=world.custodians["judy"]).update(user=world.carol)
        request = approved_request(world, [enrol(world)])
        response = world.staff_client(world.carol).get(challenge_url(request))
        assert_problem(response, 403, "separation_of_duties")
        response = world.staff_client(world.carol).post(
            partials_url(request), {"refusal_reason": "no"}, format="json"
        )
        assert_problem(response, 403, "separation_of_duties")

    @pytest.mark.parametrize("involvement", ["entered_by", "reviewed_by", "callback_verified_by"])
    def test_no_one_involved_in_a_request_can_consent_to_its_release(
        self, world: World, involvement: str
    ) -> None:
        # frank holds a share; he also entered, reviewed or call-back-verified this request.
        frank = world.custodians["frank"]
        request = approved_request(world, [enrol(world)])
        involved: dict[str, Any] = {involvement: frank}
        if involvement == "entered_by":
            involved["channel"] = "paper"
        if involvement == "callback_verified_by":
            involved.update(is_emergency=True, callback_verified_at=timezone.now())
        DisclosureRequest.objects.filter(pk=request.pk).update(**involved)
        partial = partial_from(world, "frank", fetch_challenge(world, request, "grace"))
        client = world.staff_client(frank)

        assert_problem(client.get(challenge_url(request)), 403, "separation_of_duties")
        response = client.post(partials_url(request), {"partial": partial}, format="json")
        assert_problem(response, 403, "separation_of_duties")
        response = client.post(partials_url(request), {"refusal_reason": "no"}, format="json")
        assert_problem(response, 403, "separation_of_duties")
        assert not CustodianResponse.objects.exists()
        assert not AuditEvent.objects.filter(event_type__in=[
            "disclosure.partial_accepted", "disclosure.partial_rejected",
            "disclosure.custodian_refused",
        ]).exists()
        request.refresh_from_db()
        assert request.state == "approved"

    def test_a_malformed_request_id_is_not_found(self, world: World) -> None:
        custodian = world.staff_client(world.custodians["frank"])
        for path in ("releases/DR-2026-X", "releases/DR-2026-X/challenge"):
            response = custodian.get(f"/api/v1/{path}")
            assert_problem(response, 404, "not_found")
            assert response["Content-Type"] == "application/problem+json"
        response = custodian.post("/api/v1/releases/DR-2026-X/partials",
                                  {"refusal_reason": "no"}, format="json")
        assert_problem(response, 404, "not_found")
        response = world.agency_client().get("/api/v1/disclosure-requests/DR-2026-X/package")
        assert_problem(response, 404, "not_found")
        assert response["Content-Type"] == "application/problem+json"

    def test_a_custodian_without_a_share_of_the_records_epoch_is_refused(
        self, world: World
    ) -> None:
        from escrow.vault.models import CustodianKey

        CustodianKey.objects.filter(user=world.custodians["judy"]).delete()
        request = approved_request(world, [enrol(world)])
        response = world.staff_client(world.custodians["judy"]).get(challenge_url(request))
        assert_problem(response, 403, "not_a_share_holder")

    def test_a_request_not_yet_approved_has_no_challenge(self, world: World) -> None:
        request = approved_request(world, [enrol(world)])
        DisclosureRequest.objects.filter(pk=request.pk).update(state="in_review")
        response = world.staff_client(world.custodians["frank"]).get(challenge_url(request))
        assert_problem(response, 409, "release_not_open")

    def test_an_expired_request_has_no_challenge(self, world: World) -> None:
        request = approved_request(world, [enrol(world)])
        DisclosureRequest.objects.filter(pk=request.pk).update(
            expires_at=timezone.now() - timedelta(minutes=1)
        )
        response = world.staff_client(world.custodians["frank"]).get(challenge_url(request))
        assert_problem(response, 409, "request_expired")


class TestPartials:
    def test_k_minus_one_partials_release_nothing(self, world: World) -> None:
        request = approved_request(world, [enrol(world)])
        for name, count in (("frank", 1), ("grace", 2)):
            response = submit(world, request, name)
            assert response.status_code == 201, response.content
            assert response.json() == {"decision": "consent", "accepted": count,
                                       "threshold": 3, "release_started": False}
        request.refresh_from_db()
        assert request.state == "approved"
        assert not Release.objects.exists()
        assert AuditEvent.objects.filter(event_type="disclosure.partial_accepted").count() == 2

    def test_a_wrong_proof_is_refused_and_logged(self, world: World) -> None:
        request = approved_request(world, [enrol(world)])
        partial = partial_from(world, "frank", fetch_challenge(world, request, "frank"))
        proof = bytearray(bytes.fromhex(partial["proofs"][0]))
        proof[40] ^= 1
        partial["proofs"][0] = bytes(proof).hex()
        body = assert_problem(submit(world, request, "frank", partial), 422, "partial_rejected")
        assert body["reason"] == "proof"
        assert not CustodianResponse.objects.exists()
        event = AuditEvent.objects.get(event_type="disclosure.partial_rejected")
        assert json.loads(bytes(event.entry))["details"]["reason"] == "proof"

    def test_a_partial_for_another_request_is_refused(self, world: World) -> None:
        enrolment = enrol(world)
        first = approved_request(world, [enrolment])
        second = approved_request(world, [enrolment])
        partial = partial_from(world, "frank", fetch_challenge(world, first, "frank"))
        body = assert_problem(submit(world, second, "frank", partial), 422, "partial_rejected")
        assert body["reason"] == "proof"

    def test_another_custodians_partial_is_refused(self, world: World) -> None:
        request = approved_request(world, [enrol(world)])
        franks = partial_from(world, "frank", fetch_challenge(world, request, "frank"))
        body = assert_problem(submit(world, request, "grace", franks), 422, "partial_rejected")
        assert body["reason"] == "custodian_index"

    def test_a_partial_for_another_epoch_is_refused(self, world: World) -> None:
        request = approved_request(world, [enrol(world)])
        partial = partial_from(world, "frank", fetch_challenge(world, request, "frank"))
        partial["epoch"] += 1
        body = assert_problem(submit(world, request, "frank", partial), 422, "partial_rejected")
        assert body["reason"] == "epoch"

    def test_a_replayed_partial_is_refused(self, world: World) -> None:
        request = approved_request(world, [enrol(world)])
        partial = partial_from(world, "frank", fetch_challenge(world, request, "frank"))
        assert submit(world, request, "frank", partial).status_code == 201
        assert_problem(submit(world, request, "frank", partial), 409, "already_answered")
        assert CustodianResponse.objects.count() == 1
        rejected = AuditEvent.objects.get(event_type="disclosure.partial_rejected")
        assert json.loads(bytes(rejected.entry))["details"]["reason"] == "duplicate"

    def test_a_malformed_partial_is_refused(self, world: World) -> None:
        request = approved_request(world, [enrol(world)])
        response = world.staff_client(world.custodians["frank"]).post(
            partials_url(request), {"partial": {"format": "nope"}}, format="json"
        )
        assert_problem(response, 400, "partial_malformed")

    def test_a_refusal_is_recorded_once(self, world: World) -> None:
        request = approved_request(world, [enrol(world)])
        client = world.staff_client(world.custodians["heidi"])
        response = client.post(partials_url(request),
                               {"refusal_reason": "The order looks altered."}, format="json")
        assert response.status_code == 201, response.content
        assert response.json() == {"decision": "refusal"}
        refusal = CustodianResponse.objects.get()
        assert refusal.partial is None
        assert refusal.custodian_index == 3
        event = AuditEvent.objects.get(event_type="disclosure.custodian_refused")
        assert b"altered" not in bytes(event.entry)  # the reason is sealed, not public
        again = client.post(partials_url(request), {"refusal_reason": "again"}, format="json")
        assert_problem(again, 409, "already_answered")
        # A refused share cannot consent afterwards either.
        assert_problem(submit(world, request, "heidi"), 409, "already_answered")


class TestRelease:
    def test_k_partials_release_exactly_the_approved_fields(self, world: World) -> None:
        target, bystander = enrol(world, 1), enrol(world, 2, phone=False)
        request = approved_request(
            world, [target, bystander],
            fields=["given_name", "family_name", "phone", "verification_reference"],
        )
        late = partial_from(world, "ivan", fetch_challenge(world, request, "ivan"))
        for name in ("frank", "heidi"):
            assert submit(world, request, name).status_code == 201
        last = submit(world, request, "judy")
        assert last.status_code == 201
        assert last.json()["release_started"] is True

        request.refresh_from_db()
        assert request.state == "released"
        release = Release.objects.get()
        assert release.package_sealed is not None
        assert release.delivered_at is None

        package = open_package(world)
        content = package["content"]
        assert content["request"]["reference"] == request.reference
        subjects = {s["pseudonym"]: s for s in content["subjects"]}
        assert subjects[target.pseudonym]["fields"] == {
            "given_name": "Zebulonqx1", "family_name": "Quartermainezz", "phone": "+447700900481",
        }
        assert subjects[target.pseudonym]["evidence"]["verification_reference"] == "idv-ref-1"
        assert subjects[target.pseudonym]["evidence"]["provider"] == "demo-idv"
        assert subjects[bystander.pseudonym]["not_held"] == ["phone"]
        assert "email" not in json.dumps(content["subjects"])
        assert "Quartermainezz" in package["html"]

        # The package is the one the log committed to, under a signed checkpoint.
        proof = package["release"]
        leaf = base64.b64decode(proof["leaf"])
        entry = json.loads(leaf)
        assert entry["type"] == "disclosure.release_committed"
        commitment = content_commitment(
            context=str(request.pk).encode(), salt=base64.b64decode(package["salt"]),
            content=json.dumps(content, sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode(),
        )
        assert entry["details"]["content_commitment"] == commitment.hex()
        checkpoint = checkpoint_open(
            message=proof["checkpoint"].encode(),
            verifier=verifier_parse(log_identity().verifier_key), origin=log_identity().origin,
        )
        inclusion_verify(index=proof["log_index"], size=checkpoint.size,
                         leaf_hash=leaf_hash(leaf),
                         proof=[base64.b64decode(p) for p in proof["inclusion_proof"]],
                         root=checkpoint.root_hash)
        assert release.log_index == proof["log_index"]

        # The partials that opened it are gone too: k of them beside the ciphertexts would
        # be a key to these fields in any database dump.
        stored = list(CustodianResponse.objects.filter(request=request))
        assert len(stored) == 3
        for response in stored:
            assert response.partial["redacted"] is True
            assert "shares" not in response.partial
            assert "proofs" not in response.partial

        # Delivered once, then gone.
        release.refresh_from_db()
        assert release.package_sealed is None
        assert release.delivered_at is not None
        again = world.agency_client().get(f"/api/v1/disclosure-requests/{request.pk}/package")
        assert_problem(again, 404, "package_not_available")
        # No further partial is taken.
        assert_problem(submit(world, request, "ivan", late), 409, "release_not_open")

    def test_an_enrolment_erased_before_release_is_reported_not_opened(
        self, world: World
    ) -> None:
        from escrow.vault.services.enrolment import enrolment_erase

        kept, erased = enrol(world, 1), enrol(world, 2)
        request = approved_request(world, [kept, erased])
        enrolment_erase(platform=world.platform, enrolment=erased)
        challenge = fetch_challenge(world, request, "frank")
        assert {i["record_id"] for i in challenge["items"]} == {str(kept.id)}
        assert sorted(challenge["record_ids"]) == sorted([str(kept.id), str(erased.id)])
        for name in ("frank", "grace", "heidi"):
            assert submit(world, request, name).status_code == 201
        subjects = {s["pseudonym"]: s for s in open_package(world)["content"]["subjects"]}
        assert subjects[erased.pseudonym]["status"] == "erased"
        assert subjects[erased.pseudonym]["fields"] == {}
        assert subjects[kept.pseudonym]["fields"]["family_name"] == "Quartermainezz"

    def test_the_html_rendering_escapes_what_it_shows(self) -> None:
        from legal_requests.services.release.sealing import package_render_html

        hostile = "<script>alert(1)</script>"
        html = package_render_html({
            "content": {
                "request": {"reference": "DR-1", "legal_basis": {"code": "c", "name": "n"},
                            "fields": ["given_name"]},
                "subjects": [{"pseudonym": "PSN-1", "platform": "p", "status": "active",
                              "fields": {"given_name": hostile}, "not_held": [],
                              "evidence": {"provider": hostile}}],
                "released_at": "now",
            },
            "release": {"log_index": 1, "checkpoint": "c", "content_commitment": "00"},
        })
        assert hostile not in html
        assert "&lt;script&gt;" in html

    def test_another_agency_cannot_fetch_the_package(self, world: World) -> None:
        request = approved_request(world, [enrol(world)])
        for name in ("frank", "grace", "heidi"):
            submit(world, request, name)
        from accounts.services import agency_create, credential_create

        stranger = agency_create(name="Other Force", jurisdiction_code="GB-EAW",
                                 callback_phone="+441", callback_email="x@other.example")
        key = credential_create(agency=stranger).api_key
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        response = client.get(f"/api/v1/disclosure-requests/{request.pk}/package")
        assert_problem(response, 404, "not_found")
        assert Release.objects.get().package_sealed is not None

    def test_log_unavailable_releases_nothing_and_a_retry_completes(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from escrow.log.services import LogUnavailable

        request = approved_request(world, [enrol(world)])
        real_wait = release_commit.log_wait

        def log_down_for_new_events(*, event_id: int, timeout: float) -> Any:
            if event_id != request.approval_event_id:
                raise LogUnavailable("no checkpoint")
            return real_wait(event_id=event_id, timeout=timeout)

        monkeypatch.setattr(release_commit, "log_wait", log_down_for_new_events)
        for name in ("frank", "grace", "heidi"):
            assert submit(world, request, name).status_code == 201
        request.refresh_from_db()
        assert request.state == "releasing"
        assert not Release.objects.exists()
        abort = AuditEvent.objects.get(event_type="disclosure.release_aborted")
        assert json.loads(bytes(abort.entry))["details"]["reason"] == "log_unavailable"
        with pytest.raises(release_commit.ReleaseLogUnavailable):
            release_perform(disclosure_id=request.pk)
        # Staff following the release see why nothing has come out.
        status = world.staff_client(world.bob).get(f"/api/v1/releases/{request.pk}").json()
        assert status["state"] == "releasing"
        assert status["partials_in"] == 3
        assert status["threshold"] == 3
        assert status["last_abort_reason"] == "log_unavailable"
        assert status["release_log_index"] is None

        monkeypatch.setattr(release_commit, "log_wait", real_wait)
        outcome = release_perform(disclosure_id=request.pk)
        assert outcome is not None
        request.refresh_from_db()
        assert request.state == "released"
        assert release_perform(disclosure_id=request.pk) is None  # safe to run twice
        status = world.staff_client(world.bob).get(f"/api/v1/releases/{request.pk}").json()
        assert status["state"] == "released"
        assert status["release_log_index"] is not None
        assert world.agency_client().get(
            f"/api/v1/releases/{request.pk}").status_code == 401  # staff tokens only

    def test_the_beat_scan_resumes_a_release_the_log_held_back(
        self, world: World, monkeypatch: pytest.MonkeyPatch, settings: Any
    ) -> None:
        from escrow.log.services import LogUnavailable
        from legal_requests.tasks import release_resume_stalled_task

        request = approved_request(world, [enrol(world)])
        real_wait = release_commit.log_wait

        def log_down_for_new_events(*, event_id: int, timeout: float) -> Any:
            if event_id != request.approval_event_id:
                raise LogUnavailable("no checkpoint")
            return real_wait(event_id=event_id, timeout=timeout)

        monkeypatch.setattr(release_commit, "log_wait", log_down_for_new_events)
        for name in ("frank", "grace", "heidi"):
            # The task swallows the abort: the upload itself succeeds.
            assert submit(world, request, name).status_code == 201
        settings.RELEASE_RETRY_SECONDS = 3600
        assert release_resume_stalled_task() == 0  # retried only after a pause
        settings.RELEASE_RETRY_SECONDS = 0
        assert release_resume_stalled_task() == 1  # the log is still down: aborted again
        assert AuditEvent.objects.filter(event_type="disclosure.release_aborted").count() == 2
        monkeypatch.setattr(release_commit, "log_wait", real_wait)
        assert release_resume_stalled_task() == 1
        request.refresh_from_db()
        assert request.state == "released"
        assert release_resume_stalled_task() == 0

    def test_an_authority_expiring_before_the_release_releases_nothing(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        request = approved_request(world, [enrol(world)])
        # The release task is queued but has not run yet (no worker picked it up).
        monkeypatch.setattr(release_partials, "_release_enqueue_on_commit", lambda _id: None)
        for name in ("frank", "grace", "heidi"):
            assert submit(world, request, name).status_code == 201
        DisclosureRequest.objects.filter(pk=request.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        with pytest.raises(ReleaseAborted):
            release_perform(disclosure_id=request.pk)
        request.refresh_from_db()
        assert request.state == "expired"
        assert not Release.objects.exists()
        assert not AuditEvent.objects.filter(event_type="disclosure.release_committed").exists()
        assert all(r.partial["redacted"] for r in CustodianResponse.objects.all())

    def test_an_authority_expiring_while_the_log_catches_up_releases_nothing(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        request = approved_request(world, [enrol(world)])
        monkeypatch.setattr(release_partials, "_release_enqueue_on_commit", lambda _id: None)
        for name in ("frank", "grace", "heidi"):
            assert submit(world, request, name).status_code == 201
        real_wait = release_commit.log_wait

        def slow_log(*, event_id: int, timeout: float) -> Any:
            proof = real_wait(event_id=event_id, timeout=timeout)
            if event_id != request.approval_event_id:
                DisclosureRequest.objects.filter(pk=request.pk).update(
                    expires_at=timezone.now() - timedelta(seconds=1)
                )
            return proof

        monkeypatch.setattr(release_commit, "log_wait", slow_log)
        with pytest.raises(ReleaseAborted):
            release_perform(disclosure_id=request.pk)
        request.refresh_from_db()
        assert request.state == "expired"
        assert not Release.objects.exists()
        abort = AuditEvent.objects.get(event_type="disclosure.release_aborted")
        assert json.loads(bytes(abort.entry))["details"]["reason"] == "authority_expired"

    def test_a_broken_agency_key_releases_nothing_until_fixed(
        self, world: World, settings: Any
    ) -> None:
        from accounts.models import Agency
        from legal_requests.tasks import release_resume_stalled_task

        good_key = world.agency.package_public_key
        Agency.objects.filter(pk=world.agency.pk).update(package_public_key="not-a-key")
        request = approved_request(world, [enrol(world)])
        for name in ("frank", "grace", "heidi"):
            assert submit(world, request, name).status_code == 201
        request.refresh_from_db()
        assert request.state == "releasing"
        assert not AuditEvent.objects.filter(event_type="disclosure.release_committed").exists()
        abort = AuditEvent.objects.get(event_type="disclosure.release_aborted")
        assert json.loads(bytes(abort.entry))["details"]["reason"] == "agency_key_invalid"
        Agency.objects.filter(pk=world.agency.pk).update(package_public_key=good_key)
        settings.RELEASE_RETRY_SECONDS = 0
        assert release_resume_stalled_task() == 1
        request.refresh_from_db()
        assert request.state == "released"
        assert open_package(world)["content"]["request"]["reference"] == request.reference

    def test_stored_partials_are_verified_again_before_combination(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        request = approved_request(world, [enrol(world)])
        monkeypatch.setattr(release_partials, "_release_enqueue_on_commit", lambda _id: None)
        for name in ("frank", "grace", "heidi"):
            submit(world, request, name)
        # Someone with database access swaps a stored share for garbage.
        response = CustodianResponse.objects.get(custodian_index=2)
        partial = PartialDecryption.from_dict(response.partial).to_dict()
        partial["shares"][0] = partial["shares"][1]  # a valid point, but not x_2 R_0
        CustodianResponse.objects.filter(pk=response.pk).update(partial=partial)
        with pytest.raises(ReleaseAborted):
            release_perform(disclosure_id=request.pk)
        assert not Release.objects.exists()
        abort = AuditEvent.objects.get(event_type="disclosure.release_aborted")
        assert json.loads(bytes(abort.entry))["details"]["reason"] == "not_enough_partials"
        # Altered data is not retried forever: an operator has to look.
        later = timezone.now() + timedelta(days=1)
        assert releases_stalled(now=later) == []


class TestPartialsScrub:
    def test_partials_of_a_request_ended_otherwise_are_scrubbed(self, world: World) -> None:
        from legal_requests.tasks import release_downloads_purge_expired_task

        request = approved_request(world, [enrol(world)])
        for name in ("frank", "grace"):
            assert submit(world, request, name).status_code == 201
        # Withdrawn by the agency (the workflow's own path), with two partials stored.
        DisclosureRequest.objects.filter(pk=request.pk).update(state="withdrawn")
        open_request = approved_request(world, [enrol(world, 2)])
        assert submit(world, open_request, "frank").status_code == 201

        release_downloads_purge_expired_task()
        for response in CustodianResponse.objects.filter(request=request):
            assert response.partial["redacted"] is True
        # A request still open for release keeps what it needs.
        kept = CustodianResponse.objects.get(request=open_request)
        assert "shares" in kept.partial


class TestDownloadSecret:
    @pytest.fixture
    def keyless(self, transactional_db: Any, eager_tasks: Any, patient_log: None) -> World:
        return world_build(agency_key=False)

    def released(self, world: World) -> DisclosureRequest:
        request = approved_request(world, [enrol(world)])
        for name in ("frank", "grace", "heidi"):
            assert submit(world, request, name).status_code == 201
        return request

    def secret_from_mail(self) -> str:
        (message,) = mail.outbox
        assert "olivia.wood@met.police.example" in message.to
        line = next(x for x in message.body.splitlines() if "Download-Secret:" in x)
        return line.split(":", 1)[1].strip()

    def test_single_use_download_with_the_emailed_secret(self, keyless: World) -> None:
        request = self.released(keyless)
        secret = self.secret_from_mail()
        url = f"/api/v1/disclosure-requests/{request.pk}/package"
        client = keyless.agency_client()
        assert_problem(client.get(url), 403, "download_secret_invalid")
        assert_problem(client.get(url, HTTP_DOWNLOAD_SECRET="A" * 43), 403,
                       "download_secret_invalid")
        assert AuditEvent.objects.filter(
            event_type="disclosure.package_download_refused").count() == 2
        response = client.get(url, HTTP_DOWNLOAD_SECRET=secret)
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
        package = json.loads(response.content)
        (subject,) = package["content"]["subjects"]
        assert subject["fields"]["family_name"] == "Quartermainezz"
        release = Release.objects.get()
        assert release.package_sealed is None
        assert release.download_token_hash is None
        assert_problem(client.get(url, HTTP_DOWNLOAD_SECRET=secret), 404,
                       "package_not_available")

    def test_an_expired_download_is_deleted(self, keyless: World) -> None:
        request = self.released(keyless)
        secret = self.secret_from_mail()
        Release.objects.update(download_expires_at=timezone.now() - timedelta(seconds=1))
        response = keyless.agency_client().get(
            f"/api/v1/disclosure-requests/{request.pk}/package", HTTP_DOWNLOAD_SECRET=secret
        )
        assert_problem(response, 410, "package_expired")
        assert Release.objects.get().package_sealed is None

    def test_the_purge_deletes_lapsed_downloads(self, keyless: World) -> None:
        self.released(keyless)
        assert release_delivery.release_downloads_purge_expired() == 0
        later = timezone.now() + timedelta(hours=25)
        assert release_delivery.release_downloads_purge_expired(now=later) == 1
        assert Release.objects.get().package_sealed is None


class TestClosing:
    def released(self, world: World, *, emergency: bool = False) -> DisclosureRequest:
        request = approved_request(world, [enrol(world)])
        if emergency:
            DisclosureRequest.objects.filter(pk=request.pk).update(
                is_emergency=True, callback_verified_at=timezone.now()
            )
        for name in ("frank", "grace", "heidi"):
            assert submit(world, request, name).status_code == 201
        request.refresh_from_db()
        assert request.state == "released"
        return request

    def test_closed_only_once_delivered_and_notified(self, world: World) -> None:
        request = self.released(world)
        release = Release.objects.get(request=request)
        owed = {"package_sealed": release.package_sealed, "platforms_notified_at": None}
        Release.objects.filter(pk=release.pk).update(**owed)
        assert disclosures_close_completed() == 0
        Release.objects.filter(pk=release.pk).update(package_sealed=None)
        assert disclosures_close_completed() == 0  # platforms not yet told
        Release.objects.filter(pk=release.pk).update(platforms_notified_at=timezone.now())
        assert disclosures_close_completed() == 1
        request.refresh_from_db()
        assert request.state == "closed"
        assert AuditEvent.objects.filter(event_type="disclosure.closed").count() == 1
        assert disclosures_close_completed() == 0  # safe to run twice

    def test_an_emergency_stays_open_until_its_retrospective_review(self, world: World
                                                                    ) -> None:
        request = self.released(world, emergency=True)
        Release.objects.filter(request=request).update(
            package_sealed=None, platforms_notified_at=timezone.now()
        )
        assert disclosures_close_completed() == 0
        request.refresh_from_db()
        assert request.state == "released"


# Rules of the release preconditions themselves (mutation testing, tests/mutation.py).


def test_a_request_expiring_this_instant_is_closed_to_release() -> None:
    instant = timezone.now()
    request = DisclosureRequest(state=DisclosureRequest.State.APPROVED, approval_event_id=1,
                                expires_at=instant)
    with pytest.raises(RequestExpired):
        release_check_open(request, now=instant)
    release_check_open(request, now=instant - timedelta(microseconds=1))


def test_a_custodian_who_administers_accounts_cannot_release(world: World) -> None:
    frank = world.custodians["frank"]
    User.objects.filter(pk=frank.pk).update(is_superuser=True)
    with pytest.raises(ReleaseSeparationOfDuties):
        release_custodian_shares(disclosure=DisclosureRequest(), epochs=[world.keypair.row.epoch],
                                 custodian=User.objects.get(pk=frank.pk))


def test_a_share_of_another_epoch_does_not_count(world: World) -> None:
    grace = world.custodians["grace"]
    epoch = world.keypair.row.epoch
    shares = release_custodian_shares(disclosure=DisclosureRequest(), custodian=grace,
                                      epochs=[epoch, epoch + 1])
    assert list(shares) == [epoch]
    with pytest.raises(NotAShareHolder):
        release_custodian_shares(disclosure=DisclosureRequest(), custodian=grace,
                                 epochs=[epoch + 1])
