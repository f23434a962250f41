"""Release endpoints: custodians' challenge and partials, and the agency's package download."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import StaffTokenAuthentication
from accounts.permissions import AgencyKey, HasRole
from accounts.principals import required_agency, required_staff
from accounts.roles import Role
from escrow.api.serializers import StrictSerializer, query_once
from escrow.crypto.encoding import b64encode
from legal_requests.selectors import (
    disclosure_get_for_agency,
    disclosure_get_for_staff,
    release_status_get,
)
from legal_requests.services.release.challenge import ReleaseChallenge, release_challenge_get
from legal_requests.services.release.delivery import release_package_fetch
from legal_requests.services.release.partials import (
    release_partial_submit,
    release_refusal_submit,
)
from legal_requests.services.release.reissue import release_download_secret_reissue
from legal_requests.services.release.sealing import SEALED_PACKAGE_FORMAT

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


class ReleaseEpochOutput(serializers.Serializer):
    epoch = serializers.IntegerField()
    threshold = serializers.IntegerField(help_text="Partials this epoch needs")
    partials_in = serializers.IntegerField()
    refusals = serializers.IntegerField()
    complete = serializers.BooleanField()


class ReleaseChallengeEpochOutput(ReleaseEpochOutput):
    your_index = serializers.IntegerField(
        allow_null=True, help_text="The caller's share index in this epoch, null if none"
    )


class ReleaseChallengeQuery(StrictSerializer):
    epoch = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1,
        help_text="Which escrow key epoch to answer for (default: the first one you hold a "
                  "share of and have not answered)",
    )


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
    partials_in = serializers.IntegerField(help_text="Partials in for this challenge's epoch")
    epochs = ReleaseChallengeEpochOutput(
        many=True, help_text="Every epoch the request needs: a record keeps the epoch it was "
                             "sealed under, and each epoch's own custodians answer for it",
    )
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


class DownloadSecretMailOutput(serializers.Serializer):
    state = serializers.ChoiceField(choices=("pending", "sent", "dead", "cancelled"))
    attempts = serializers.IntegerField()
    last_error = serializers.CharField(help_text="The failure's class name, or empty")
    next_attempt_at = serializers.DateTimeField(allow_null=True)


class ReleaseStatusOutput(serializers.Serializer):
    request_id = serializers.UUIDField()
    reference = serializers.CharField()
    state = serializers.CharField()
    threshold = serializers.IntegerField(
        allow_null=True, help_text="Partials needed, summed over the epochs the request needs"
    )
    partials_in = serializers.IntegerField(
        help_text="Partials in, each epoch counted up to its own threshold"
    )
    refusals = serializers.IntegerField()
    epochs = ReleaseEpochOutput(many=True)
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
    download_secret_mail = DownloadSecretMailOutput(
        allow_null=True,
        help_text="The latest mail of the download secret (a package without an agency "
                  "key): dead means given up, and an approver can reissue the secret.",
    )


class SealedPackageOutput(serializers.Serializer):
    format = serializers.CharField()
    request_id = serializers.UUIDField()
    reference = serializers.CharField()
    encryption = serializers.CharField()
    package_sha256 = serializers.CharField()
    sealed_package = serializers.CharField(help_text="base64 sealed box")


def _challenge_summary(challenge: ReleaseChallenge) -> dict[str, Any]:
    """What the custodian is asked to consent to, as their tool shows it."""
    disclosure = challenge.disclosure
    agency, basis = disclosure.agency, disclosure.legal_basis
    return {
        "id": str(disclosure.pk),
        "reference": disclosure.reference,
        "state": disclosure.state,
        "agency": {"name": agency.name, "jurisdiction": agency.jurisdiction_id},
        "legal_basis": {"code": basis.code, "name": basis.name},
        "issuing_authority": disclosure.issuing_authority,
        "fields": challenge.fields,
        "pseudonym_count": challenge.pseudonym_count,
        "expires_at": disclosure.expires_at.isoformat(),
        "is_emergency": disclosure.is_emergency,
    }


def challenge_document(challenge: ReleaseChallenge) -> dict[str, Any]:
    disclosure = challenge.disclosure
    proof = challenge.approval_proof
    return {
        "format": CHALLENGE_FORMAT,
        "request": _challenge_summary(challenge),
        "context": {"request_id": str(disclosure.pk), "approval_log_index": proof.log_index},
        "escrow_key": {
            "epoch": challenge.escrow_key.epoch,
            "threshold": challenge.escrow_key.threshold,
            "fingerprint": challenge.public_key.fingerprint().hex(),
        },
        "custodian": {"index": challenge.custodian_index},
        "partials_in": challenge.responses_in,
        "epochs": [
            {"epoch": p.epoch, "threshold": p.threshold, "partials_in": p.partials_in,
             "refusals": p.refusals, "complete": p.complete, "your_index": index}
            for p, index in challenge.epochs
        ],
        "approval": {
            "log_index": proof.log_index,
            "tree_size": proof.tree_size,
            "root_hash": b64encode(proof.root_hash),
            "checkpoint": proof.checkpoint_text,
            "inclusion_proof": [b64encode(p) for p in proof.inclusion_proof],
            "leaf": b64encode(challenge.approval_leaf),
        },
        # Every target's enrolment id (random, not personal), so the tool can match them
        # against the digest in the logged approval.
        "record_ids": challenge.record_ids,
        # Each target's enrolment entry commits to its fields' points R (see the tool).
        "enrolments": [
            {
                "record_id": enrolment.record_id,
                "log_index": enrolment.log_index,
                "leaf": b64encode(enrolment.leaf),
                "inclusion_proof": [b64encode(p) for p in enrolment.inclusion_proof],
            }
            for enrolment in challenge.enrolment_proofs
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
    def get(self, request: Request, request_id: UUID) -> Response:
        disclosure = disclosure_get_for_staff(disclosure_id=request_id)
        return Response(ReleaseStatusOutput(release_status_get(disclosure=disclosure)).data)


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
        parameters=[ReleaseChallengeQuery],
        responses={200: ReleaseChallengeOutput},
    )
    def get(self, request: Request, request_id: UUID) -> Response:
        query = ReleaseChallengeQuery(data=query_once(request))
        query.is_valid(raise_exception=True)
        challenge = release_challenge_get(
            disclosure=disclosure_get_for_staff(disclosure_id=request_id),
            custodian=required_staff(request), epoch=query.validated_data.get("epoch"),
        )
        return Response(ReleaseChallengeOutput(challenge_document(challenge)).data)


class ReleasePartialApi(APIView):
    """A custodian's answer: a partial decryption with proofs, or a reasoned refusal."""

    authentication_classes = [StaffTokenAuthentication]
    permission_classes = [HasRole(Role.CUSTODIAN)]

    @extend_schema(operation_id="release_partial_submit", request=ReleasePartialInput,
                   responses={201: ReleasePartialOutput},
                   description="`Location` names the release's status, which counts this "
                               "answer among `partials_in` or `refusals`.")
    def post(self, request: Request, request_id: UUID) -> Response:
        payload = ReleasePartialInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        custodian = required_staff(request)
        disclosure = disclosure_get_for_staff(disclosure_id=request_id)
        if "refusal_reason" in data:
            release_refusal_submit(
                disclosure=disclosure, custodian=custodian, reason=data["refusal_reason"]
            )
            body = ReleasePartialOutput({"decision": "refusal"}).data
        else:
            outcome = release_partial_submit(
                disclosure=disclosure, custodian=custodian, partial_data=data["partial"]
            )
            body = ReleasePartialOutput(
                {
                    "decision": "consent",
                    "accepted": outcome.accepted,
                    "threshold": outcome.threshold,
                    "release_started": outcome.release_started,
                }
            ).data
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Location"] = reverse("release-status", kwargs={"request_id": disclosure.pk})
        return response


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
    def get(self, request: Request, request_id: UUID) -> HttpResponse:
        agency = required_agency(request)
        delivered = release_package_fetch(
            disclosure=disclosure_get_for_agency(agency=agency, disclosure_id=request_id),
            agency=agency,
            download_secret=request.headers.get("Download-Secret"),
        )
        response: HttpResponse
        if delivered.sealed_to_agency_key:
            response = Response(
                {
                    "format": SEALED_PACKAGE_FORMAT,
                    "request_id": str(delivered.disclosure.pk),
                    "reference": delivered.disclosure.reference,
                    "encryption": "x25519-xsalsa20poly1305-sealedbox",
                    "package_sha256": delivered.package_sha256.hex(),
                    "sealed_package": b64encode(delivered.body),
                }
            )
        else:
            response = HttpResponse(delivered.body, content_type="application/json")
        # Single use: no cache or proxy may keep a copy.
        response["Cache-Control"] = "no-store"
        return response


class DownloadSecretReissueInput(StrictSerializer):
    reason = serializers.CharField(max_length=5000, help_text="Why (sealed in the log)")


class DownloadSecretReissueOutput(serializers.Serializer):
    request_id = serializers.UUIDField()
    reference = serializers.CharField()
    mail_id = serializers.UUIDField(help_text="The new secret's mail in the outbox")
    download_expires_at = serializers.DateTimeField(allow_null=True)


class DownloadSecretReissueApi(APIView):
    """An approver reissues a package's lost download secret; the old one stops working."""

    authentication_classes = [StaffTokenAuthentication]
    permission_classes = [HasRole(Role.APPROVER)]

    @extend_schema(
        operation_id="disclosure_package_secret_reissue",
        request=DownloadSecretReissueInput,
        responses={
            202: DownloadSecretReissueOutput,
            403: OpenApiResponse(description="Not an approver, or a custodian of this release"),
            404: OpenApiResponse(description="No such request, or no package waiting"),
            409: OpenApiResponse(description="The package is sealed to the agency's key"),
            410: OpenApiResponse(description="The download has expired"),
        },
        description=(
            "For a package sealed under a download secret (no agency key) that is still "
            "waiting: seal it again under a new single-use secret, which is mailed to the "
            "requesting officer through the mail outbox; the old secret no longer opens it. "
            "Approvers only, not a custodian who answered for this release; logged as "
            "`disclosure.download_secret_reissued`. The download's expiry is unchanged. "
            "See docs/release.md."
        ),
    )
    def post(self, request: Request, request_id: UUID) -> Response:
        payload = DownloadSecretReissueInput(data=request.data)
        payload.is_valid(raise_exception=True)
        reissued = release_download_secret_reissue(
            disclosure=disclosure_get_for_staff(disclosure_id=request_id),
            approver=required_staff(request),
            reason=payload.validated_data["reason"],
        )
        body = DownloadSecretReissueOutput({
            "request_id": reissued.disclosure.pk,
            "reference": reissued.disclosure.reference,
            "mail_id": reissued.mail.pk,
            "download_expires_at": reissued.download_expires_at,
        }).data
        return Response(body, status=status.HTTP_202_ACCEPTED)
