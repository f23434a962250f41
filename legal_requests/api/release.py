"""Release endpoints: custodians' challenge and partials, and the agency's package download."""

from __future__ import annotations

import base64
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import StaffTokenAuthentication
from accounts.permissions import AgencyKey, HasRole
from accounts.roles import Role
from escrow.api.serializers import StrictSerializer
from legal_requests.release_selectors import release_status_get
from legal_requests.services.package import release_package_fetch
from legal_requests.services.release import (
    SEALED_PACKAGE_FORMAT,
    ReleaseChallenge,
    release_challenge_get,
    release_partial_submit,
    release_refusal_submit,
)

CHALLENGE_FORMAT = "identity-escrow-release-challenge/1"


# Module-level, uniquely named serializers: OpenAPI component names must not collide.


class ReleaseAgencyOutput(serializers.Serializer):
    name = serializers.CharField()
    jurisdiction = serializers.CharField()


class ReleaseLegalBasisOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class ReleaseRequestSummaryOutput(serializers.Serializer):
    id = serializers.UUIDField()
    reference = serializers.CharField()
    state = serializers.CharField()
    agency = ReleaseAgencyOutput()
    legal_basis = ReleaseLegalBasisOutput()
    issuing_authority = serializers.CharField()
    fields = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]
    pseudonym_count = serializers.IntegerField()
    expires_at = serializers.CharField()
    is_emergency = serializers.BooleanField()


class ReleaseContextOutput(serializers.Serializer):
    request_id = serializers.UUIDField()
    approval_log_index = serializers.IntegerField()


class ReleaseEscrowKeyOutput(serializers.Serializer):
    epoch = serializers.IntegerField()
    threshold = serializers.IntegerField()
    fingerprint = serializers.CharField(help_text="SHA-256 of the public key, hex")


class ReleaseCustodianOutput(serializers.Serializer):
    index = serializers.IntegerField(help_text="The caller's share index")


class ReleaseApprovalProofOutput(serializers.Serializer):
    log_index = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    root_hash = serializers.CharField(help_text="base64")
    checkpoint = serializers.CharField(help_text="C2SP signed note (tlog-checkpoint)")
    inclusion_proof = serializers.ListField(child=serializers.CharField(), help_text="base64")
    leaf = serializers.CharField(help_text="base64 of the approval event's log entry")


class ReleaseEnrolmentProofOutput(serializers.Serializer):
    record_id = serializers.UUIDField()
    log_index = serializers.IntegerField()
    leaf = serializers.CharField(help_text="base64 of the enrolment.created log entry")
    inclusion_proof = serializers.ListField(
        child=serializers.CharField(), help_text="base64, under the approval's checkpoint"
    )


class ReleaseItemOutput(serializers.Serializer):
    record_id = serializers.UUIDField()
    platform_id = serializers.UUIDField()
    field = serializers.CharField()
    epoch = serializers.IntegerField()
    point = serializers.CharField(help_text="R of the sealed field, 64 hex digits")


class ReleaseChallengeOutput(serializers.Serializer):
    format = serializers.CharField()
    request = ReleaseRequestSummaryOutput()
    context = ReleaseContextOutput()  # type: ignore[assignment]
    escrow_key = ReleaseEscrowKeyOutput()
    custodian = ReleaseCustodianOutput()
    partials_in = serializers.IntegerField()
    approval = ReleaseApprovalProofOutput()
    record_ids = serializers.ListField(child=serializers.UUIDField())
    enrolments = ReleaseEnrolmentProofOutput(many=True)
    items = ReleaseItemOutput(many=True)


class ReleasePartialInput(StrictSerializer):
    # The body key is `partial`, which shadows BaseSerializer.partial only at class level.
    partial = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="escrow.crypto.release.PartialDecryption.to_dict()"
    )
    refusal_reason = serializers.CharField(required=False, max_length=2000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("partial" in attrs) == ("refusal_reason" in attrs):
            raise serializers.ValidationError(
                "Send exactly one of partial and refusal_reason.", code="required"
            )
        return attrs


class ReleasePartialOutput(serializers.Serializer):
    decision = serializers.ChoiceField(choices=("consent", "refusal"))
    accepted = serializers.IntegerField(required=False)
    threshold = serializers.IntegerField(required=False)
    release_started = serializers.BooleanField(required=False)


class ReleaseStatusOutput(serializers.Serializer):
    request_id = serializers.UUIDField()
    reference = serializers.CharField()
    state = serializers.CharField()
    threshold = serializers.IntegerField(allow_null=True)
    partials_in = serializers.IntegerField()
    refusals = serializers.IntegerField()
    last_abort_reason = serializers.CharField(
        allow_null=True,
        help_text="Why the last attempt released nothing (log_unavailable, authority_expired, "
                  "...); the attempt is retried while the request stays releasing.",
    )
    last_abort_at = serializers.DateTimeField(allow_null=True)
    release_log_index = serializers.IntegerField(allow_null=True)
    prepared_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    download_expires_at = serializers.DateTimeField(allow_null=True)
    platforms_notified_at = serializers.DateTimeField(allow_null=True)


class SealedPackageOutput(serializers.Serializer):
    format = serializers.CharField()
    request_id = serializers.UUIDField()
    reference = serializers.CharField()
    encryption = serializers.CharField()
    package_sha256 = serializers.CharField()
    sealed_package = serializers.CharField(help_text="base64 sealed box")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def challenge_document(challenge: ReleaseChallenge) -> dict[str, Any]:
    request = challenge.request
    proof = challenge.approval_proof
    return {
        "format": CHALLENGE_FORMAT,
        "request": {
            "id": str(request.pk),
            "reference": request.reference,
            "state": request.state,
            "agency": {"name": request.agency.name, "jurisdiction": request.agency.jurisdiction_id},
            "legal_basis": {"code": request.legal_basis.code, "name": request.legal_basis.name},
            "issuing_authority": request.issuing_authority,
            "fields": challenge.fields,
            "pseudonym_count": challenge.pseudonym_count,
            "expires_at": request.expires_at.isoformat(),
            "is_emergency": request.is_emergency,
        },
        "context": {"request_id": str(request.pk), "approval_log_index": proof.log_index},
        "escrow_key": {
            "epoch": challenge.escrow_key.epoch,
            "threshold": challenge.escrow_key.threshold,
            "fingerprint": challenge.public_key.fingerprint().hex(),
        },
        "custodian": {"index": challenge.custodian_index},
        "partials_in": challenge.responses_in,
        "approval": {
            "log_index": proof.log_index,
            "tree_size": proof.tree_size,
            "root_hash": _b64(proof.root_hash),
            "checkpoint": proof.checkpoint_text,
            "inclusion_proof": [_b64(p) for p in proof.inclusion_proof],
            "leaf": _b64(challenge.approval_leaf),
        },
        # Every target's enrolment id (random, not personal), so the tool can match them
        # against the digest in the logged approval.
        "record_ids": challenge.record_ids,
        # Each target's enrolment entry commits to its fields' points R (see the tool).
        "enrolments": [
            {
                "record_id": proof.record_id,
                "log_index": proof.log_index,
                "leaf": _b64(proof.leaf),
                "inclusion_proof": [_b64(p) for p in proof.inclusion_proof],
            }
            for proof in challenge.enrolment_proofs
        ],
        "items": [
            {
                "record_id": item.enrolment_id,
                "platform_id": item.platform_id,
                "field": item.field_name,
                "epoch": item.epoch,
                "point": item.point.hex(),
            }
            for item in challenge.items
        ],
    }


class ReleaseStatusApi(APIView):
    """Where a release stands, for the staff who follow it (no personal data)."""

    authentication_classes = [StaffTokenAuthentication]
    permission_classes = [
        HasRole(Role.CUSTODIAN, Role.APPROVER, Role.INTAKE_OFFICER, Role.AUDITOR,
                Role.ADMINISTRATOR)
    ]

    @extend_schema(operation_id="release_status", responses={200: ReleaseStatusOutput})
    def get(self, request: Request, request_id: str) -> Response:
        return Response(ReleaseStatusOutput(release_status_get(request_id=request_id)).data)


class ReleaseChallengeApi(APIView):
    """What a custodian's tool needs to consent: points, summary, and the approval's proof."""

    authentication_classes = [StaffTokenAuthentication]
    permission_classes = [HasRole(Role.CUSTODIAN)]

    @extend_schema(
        operation_id="release_challenge",
        description=(
            "The points R of exactly the approved fields of the approved pseudonyms (never "
            "the ciphertexts), the request summary, the release context and the signed "
            "checkpoint with the inclusion proof of the approval event. See docs/release.md."
        ),
        responses={200: ReleaseChallengeOutput},
    )
    def get(self, request: Request, request_id: str) -> Response:
        challenge = release_challenge_get(
            request_id=request_id, custodian=request.user  # type: ignore[arg-type]
        )
        return Response(ReleaseChallengeOutput(challenge_document(challenge)).data)


class ReleasePartialApi(APIView):
    """A custodian's answer: a partial decryption with proofs, or a reasoned refusal."""

    authentication_classes = [StaffTokenAuthentication]
    permission_classes = [HasRole(Role.CUSTODIAN)]

    @extend_schema(operation_id="release_partial_submit", request=ReleasePartialInput,
                   responses={201: ReleasePartialOutput})
    def post(self, request: Request, request_id: str) -> Response:
        payload = ReleasePartialInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        custodian = request.user
        if "refusal_reason" in data:
            release_refusal_submit(
                request_id=request_id, custodian=custodian,  # type: ignore[arg-type]
                reason=data["refusal_reason"],
            )
            return Response(ReleasePartialOutput({"decision": "refusal"}).data,
                            status=status.HTTP_201_CREATED)
        outcome = release_partial_submit(
            request_id=request_id, custodian=custodian,  # type: ignore[arg-type]
            partial_data=data["partial"],
        )
        body = ReleasePartialOutput(
            {
                "decision": "consent",
                "accepted": outcome.accepted,
                "threshold": outcome.threshold,
                "release_started": outcome.release_started,
            }
        ).data
        return Response(body, status=status.HTTP_201_CREATED)


class DisclosurePackageApi(APIView):
    """The agency fetches its package once; the service then deletes it."""

    permission_classes = [AgencyKey]

    @extend_schema(
        operation_id="disclosure_package_fetch",
        description=(
            "With a registered agency key: the package sealed to it (libsodium sealed box, "
            "base64). Without one: the package itself, against the single-use "
            "Download-Secret sent to the officer. Either way it can be fetched once."
        ),
        parameters=[
            OpenApiParameter("Download-Secret", location=OpenApiParameter.HEADER,
                             required=False,
                             description="The single-use secret, when no key is registered.")
        ],
        responses={200: SealedPackageOutput},
    )
    def get(self, request: Request, request_id: str) -> HttpResponse:
        agency = request.user.agency  # type: ignore[union-attr]
        delivered = release_package_fetch(
            request_id=request_id,
            agency_id=agency.pk,
            download_secret=request.headers.get("Download-Secret"),
        )
        response: HttpResponse
        if delivered.sealed_to_agency_key:
            response = Response(
                {
                    "format": SEALED_PACKAGE_FORMAT,
                    "request_id": str(delivered.request.pk),
                    "reference": delivered.request.reference,
                    "encryption": "x25519-xsalsa20poly1305-sealedbox",
                    "package_sha256": delivered.package_sha256.hex(),
                    "sealed_package": _b64(delivered.body),
                }
            )
        else:
            response = HttpResponse(delivered.body, content_type="application/json")
        # Single use: no cache or proxy may keep a copy.
        response["Cache-Control"] = "no-store"
        return response
