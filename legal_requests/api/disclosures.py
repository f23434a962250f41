"""Disclosure requests over the API: agencies file and follow theirs; staff review and decide.

Agencies authenticate with their agency key and see only their own requests (another
agency's request is simply not found). Staff use personal tokens; what each may do is
the role on the view plus the separation-of-duties rules in the services.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Agency
from accounts.permissions import AgencyKey, HasRole
from accounts.principals import calling_agency, required_agency, required_staff
from accounts.roles import Role
from escrow.api.pagination import PageQuery, paginated_response
from escrow.api.serializers import StrictSerializer, query_once
from escrow.crypto.encoding import b64decode
from escrow.vault.identity import IDENTITY_FIELDS
from legal_requests import selectors
from legal_requests.models import DisclosureRequest
from legal_requests.services import intake, review

STAFF_READERS = HasRole(Role.INTAKE_OFFICER, Role.APPROVER, Role.AUDITOR)
REVIEWERS = HasRole(Role.INTAKE_OFFICER, Role.APPROVER)
APPROVERS = HasRole(Role.APPROVER)
INTAKE = HasRole(Role.INTAKE_OFFICER)
DOCUMENT_TYPES = intake.DOCUMENT_TYPES


def disclosure_for_caller(request: Request, request_id: UUID) -> DisclosureRequest:
    agency = calling_agency(request)
    if agency is not None:
        return selectors.disclosure_get_for_agency(agency=agency, disclosure_id=request_id)
    return selectors.disclosure_get_for_staff(disclosure_id=request_id)


# --- serializers --------------------------------------------------------------------


class OfficerInput(StrictSerializer):
    name = serializers.CharField(max_length=200)
    rank = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    badge = serializers.CharField(max_length=50, required=False, default="", allow_blank=True)
    email = serializers.EmailField(max_length=254, help_text="Official email address.")
    phone = serializers.RegexField(r"^\+?[0-9 ()-]{6,40}$", max_length=40)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("rank") and not attrs.get("badge"):
            raise serializers.ValidationError("Give the officer's rank or badge number.",
                                              code="required")
        return attrs


class DocumentInput(StrictSerializer):
    name = serializers.RegexField(r"^[^/\\\x00-\x1f]{1,200}$", max_length=200)
    content_type = serializers.ChoiceField(choices=DOCUMENT_TYPES)
    content_base64 = serializers.CharField(
        help_text="The document, base64 (RFC 4648 s4). At most DISCLOSURE_DOCUMENT_MAX_BYTES "
                  "(10 MiB by default) once decoded.",
        trim_whitespace=True,
    )

    def validate_content_base64(self, value: str) -> bytes:
        content = b64decode(re.sub(r"\s+", "", value))
        if content is None:
            raise serializers.ValidationError("Not valid base64.", code="invalid")
        if not content:
            raise serializers.ValidationError("The document is empty.", code="empty")
        return content


class NondisclosureInput(StrictSerializer):
    until = serializers.DateField(help_text="The user may not be told before this date.")
    basis = serializers.CharField(max_length=200, help_text="The order or statute imposing it.")


class DisclosureRequestCreateInput(StrictSerializer):
    agency = serializers.UUIDField(
        required=False,
        help_text="Paper requests only (intake officers): the agency the document came from.",
    )
    officer = OfficerInput()
    case_reference = serializers.CharField(max_length=100)
    legal_basis = serializers.CharField(max_length=48, help_text="A code from /legal-bases.")
    issuing_authority = serializers.CharField(max_length=200)
    document = DocumentInput()
    issued_on = serializers.DateField()
    expires_at = serializers.DateTimeField()
    targets = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=100,
        help_text="Pseudonyms, from any platform of the escrow.",
    )
    requested_fields = serializers.ListField(
        child=serializers.ChoiceField(choices=IDENTITY_FIELDS), min_length=1,
        max_length=len(IDENTITY_FIELDS),
    )
    justification = serializers.CharField(max_length=20000)
    nondisclosure = NondisclosureInput(required=False)
    emergency_facts = serializers.CharField(
        max_length=20000, required=False, default="",
        help_text="Emergency bases only: the imminent threat to life or of serious harm.",
    )


class ApprovalOutput(serializers.Serializer):
    approver_id = serializers.IntegerField()
    decision = serializers.CharField()
    stage = serializers.CharField()
    created_at = serializers.DateTimeField()


class DisclosureRequestOutput(serializers.Serializer):
    id = serializers.UUIDField()
    reference = serializers.CharField()
    state = serializers.CharField()
    channel = serializers.CharField()
    agency = serializers.UUIDField(source="agency_id")
    jurisdiction = serializers.CharField(source="agency.jurisdiction_id")
    officer = serializers.SerializerMethodField()
    case_reference = serializers.CharField()
    legal_basis = serializers.CharField(source="legal_basis_id")
    issuing_authority = serializers.CharField()
    document = serializers.SerializerMethodField()
    issued_on = serializers.DateField()
    expires_at = serializers.DateTimeField()
    targets = serializers.SerializerMethodField()
    requested_fields = serializers.ListField(child=serializers.CharField())
    justification = serializers.CharField()
    nondisclosure_until = serializers.DateField(allow_null=True)
    nondisclosure_basis = serializers.CharField()
    is_emergency = serializers.BooleanField()
    emergency_facts = serializers.CharField()
    callback_verified_at = serializers.DateTimeField(allow_null=True)
    approvals_required = serializers.IntegerField(source="legal_basis.approvals_required")
    approvals_received = serializers.SerializerMethodField()
    review_due_at = serializers.DateTimeField(allow_null=True)
    information_request = serializers.CharField()
    information_response = serializers.CharField()
    outcome_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_officer(self, obj: DisclosureRequest) -> dict[str, str]:
        return {"name": obj.officer_name, "rank": obj.officer_rank, "badge": obj.officer_badge,
                "email": obj.officer_email, "phone": obj.officer_phone}

    def get_document(self, obj: DisclosureRequest) -> dict[str, Any]:
        return {"name": obj.document_name, "content_type": obj.document_content_type,
                "size": obj.document_size, "sha256": bytes(obj.document_sha256).hex()}

    def get_targets(self, obj: DisclosureRequest) -> list[str]:
        return [t.pseudonym for t in obj.targets.all()]

    def get_approvals_received(self, obj: DisclosureRequest) -> int:
        return selectors.disclosure_approval_count(disclosure=obj)


class StaffDisclosureRequestOutput(DisclosureRequestOutput):
    entered_by = serializers.IntegerField(source="entered_by_id", allow_null=True)
    reviewed_by = serializers.IntegerField(source="reviewed_by_id", allow_null=True)
    callback_verified_by = serializers.IntegerField(source="callback_verified_by_id",
                                                    allow_null=True)
    agency_callback_phone = serializers.CharField(source="agency.callback_phone")
    agency_callback_email = serializers.CharField(source="agency.callback_email")
    approval_event = serializers.IntegerField(source="approval_event_id", allow_null=True)
    review_escalated_at = serializers.DateTimeField(allow_null=True)
    decisions = serializers.SerializerMethodField()

    def get_decisions(self, obj: DisclosureRequest) -> list[dict[str, Any]]:
        approvals = sorted(obj.approvals.all(), key=lambda a: (a.created_at, a.pk))
        return list(ApprovalOutput(approvals, many=True).data)


def disclosure_response(request: Request, disclosure: DisclosureRequest,
                        code: int = status.HTTP_200_OK) -> Response:
    serializer = (
        DisclosureRequestOutput if calling_agency(request) is not None
        else StaffDisclosureRequestOutput
    )
    return Response(serializer(disclosure).data, status=code)


def _reload(disclosure: DisclosureRequest) -> DisclosureRequest:
    return selectors.disclosure_get_for_staff(disclosure_id=disclosure.pk)


_ID = OpenApiParameter("request_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
_ERRORS = {
    403: OpenApiResponse(description="Wrong kind of credential, role, or separation of duties"),
    404: OpenApiResponse(description="No such request (or another agency's)"),
    409: OpenApiResponse(description="Not in a state that allows this, or expired"),
}


# --- views --------------------------------------------------------------------------


class DisclosureRequestListCreateApi(APIView):
    class ListInput(PageQuery):
        state = serializers.ChoiceField(choices=DisclosureRequest.State.choices, required=False,
                                        help_text="Only requests in this state")

    def get_permissions(self) -> list[Any]:
        if self.request.method == "POST":
            return [(AgencyKey | INTAKE)()]
        return [(AgencyKey | STAFF_READERS)()]

    @extend_schema(
        operation_id="disclosure_request_list",
        parameters=[ListInput],
        responses={200: StaffDisclosureRequestOutput(many=True)},
        description="Agencies see their own requests; staff see all. Newest first, paged "
                    "(Link). Any other query parameter, or an unknown state, is a 400.",
    )
    def get(self, request: Request) -> Response:
        query = self.ListInput(data=query_once(request))
        query.is_valid(raise_exception=True)
        agency = calling_agency(request)
        if agency is not None:
            found = selectors.disclosure_list_for_agency(
                agency=agency, state=query.validated_data.get("state"))
            serializer: type[serializers.Serializer] = DisclosureRequestOutput
        else:
            found = selectors.disclosure_list_for_staff(
                state=query.validated_data.get("state"))
            serializer = StaffDisclosureRequestOutput
        return paginated_response(request=request, queryset=found,
                                  serializer_class=serializer, view=self)

    @extend_schema(
        operation_id="disclosure_request_create",
        request=DisclosureRequestCreateInput,
        responses={
            201: StaffDisclosureRequestOutput,
            413: OpenApiResponse(description="document_too_large"),
            422: OpenApiResponse(
                description="Refused at intake (logged and counted): jurisdiction_not_enabled, "
                            "legal_basis_unavailable, fields_not_allowed (with "
                            "disallowed_fields), document_expired, emergency_facts_missing, "
                            "unknown_pseudonym (with positions), document_type_mismatch"
            ),
        },
        description="Agencies file with their agency key (channel api). Intake officers enter "
                    "a request received on paper (channel paper) and name the agency.",
    )
    def post(self, request: Request) -> Response:
        payload = DisclosureRequestCreateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        agency = calling_agency(request)
        if agency is not None:
            if "agency" in data:
                raise serializers.ValidationError(
                    {"agency": [serializers.ErrorDetail("Only for paper requests.",
                                                        code="not_allowed")]}
                )
            channel, entered_by = DisclosureRequest.Channel.API, None
        else:
            if "agency" not in data:
                raise serializers.ValidationError(
                    {"agency": [serializers.ErrorDetail("This field is required.",
                                                        code="required")]}
                )
            agency = Agency.objects.select_related("jurisdiction").filter(
                pk=data["agency"]
            ).first()
            if agency is None:
                raise serializers.ValidationError(
                    {"agency": [serializers.ErrorDetail("Unknown agency.", code="invalid")]}
                )
            channel, entered_by = DisclosureRequest.Channel.PAPER, required_staff(request)
        officer = data["officer"]
        document = data["document"]
        nondisclosure = data.get("nondisclosure") or {}
        submission = intake.Submission(
            officer=intake.Officer(**officer),
            case_reference=data["case_reference"],
            legal_basis_code=data["legal_basis"],
            issuing_authority=data["issuing_authority"],
            document=intake.LegalDocument(
                name=document["name"], content_type=document["content_type"],
                content=document["content_base64"],
            ),
            issued_on=data["issued_on"],
            expires_at=data["expires_at"],
            pseudonyms=list(data["targets"]),
            requested_fields=list(dict.fromkeys(data["requested_fields"])),
            justification=data["justification"],
            nondisclosure_until=nondisclosure.get("until"),
            nondisclosure_basis=nondisclosure.get("basis", ""),
            emergency_facts=data["emergency_facts"],
        )
        created = intake.disclosure_create(
            agency=agency, submission=submission, channel=channel, entered_by=entered_by
        )
        response = disclosure_response(request, _reload(created), status.HTTP_201_CREATED)
        response["Location"] = reverse("disclosure-request-detail",
                                       kwargs={"request_id": created.pk})
        return response


class DisclosureRequestDetailApi(APIView):
    permission_classes = [AgencyKey | STAFF_READERS]

    @extend_schema(operation_id="disclosure_request_get", parameters=[_ID],
                   responses={200: StaffDisclosureRequestOutput, **_ERRORS})
    def get(self, request: Request, request_id: UUID) -> Response:
        return disclosure_response(request, disclosure_for_caller(request, request_id))


class DisclosureRequestDocumentApi(APIView):
    permission_classes = [STAFF_READERS]

    @extend_schema(
        operation_id="disclosure_request_document",
        parameters=[_ID],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **_ERRORS},
        description="The legal document, decrypted, with its own content type. Staff only; "
                    "every reading is logged.",
    )
    def get(self, request: Request, request_id: UUID) -> HttpResponse:
        disclosure = selectors.disclosure_get_for_staff(disclosure_id=request_id)
        name, content_type, content = review.disclosure_document_open(
            disclosure=disclosure, staff=required_staff(request)
        )
        response = HttpResponse(content, content_type=content_type)
        safe_name = re.sub(r'[^A-Za-z0-9._ -]', "_", name)
        response["Content-Disposition"] = f'attachment; filename="{safe_name}"'
        response["Cache-Control"] = "no-store"
        return response


class ReasonInput(StrictSerializer):
    reason = serializers.CharField(max_length=5000)


class _StaffAction(APIView):
    """POST /disclosure-requests/{id}/<action>: load for staff, call one service."""

    def act(self, request: Request, disclosure: DisclosureRequest, data: dict[str, Any]) -> None:
        raise NotImplementedError

    input_class: type[serializers.Serializer] | None = None

    def post(self, request: Request, request_id: UUID) -> Response:
        data: dict[str, Any] = {}
        if self.input_class is not None:
            payload = self.input_class(data=request.data)
            payload.is_valid(raise_exception=True)
            data = dict(payload.validated_data)
        disclosure = selectors.disclosure_get_for_staff(disclosure_id=request_id)
        self.act(request, disclosure, data)
        return disclosure_response(request, _reload(disclosure))


class DisclosureRequestReviewApi(_StaffAction):
    permission_classes = [REVIEWERS]

    @extend_schema(operation_id="disclosure_request_review_start", parameters=[_ID],
                   request=None, responses={200: StaffDisclosureRequestOutput, **_ERRORS},
                   description="received -> in_review. The reviewer cannot later decide it.")
    def post(self, request: Request, request_id: UUID) -> Response:
        return super().post(request, request_id)

    def act(self, request: Request, disclosure: DisclosureRequest, data: dict[str, Any]) -> None:
        review.disclosure_review_start(disclosure=disclosure, reviewer=required_staff(request))


class DisclosureRequestApproveApi(_StaffAction):
    permission_classes = [APPROVERS]
    input_class = ReasonInput

    @extend_schema(
        operation_id="disclosure_request_approve", parameters=[_ID], request=ReasonInput,
        responses={200: StaffDisclosureRequestOutput, **_ERRORS},
        description="Record one approval. When the legal basis's count is reached the request "
                    "becomes approved and custodians are notified. Refused to whoever entered, "
                    "reviewed or call-back-verified it, twice by one approver, after expiry, "
                    "and for an emergency request without call-back verification.",
    )
    def post(self, request: Request, request_id: UUID) -> Response:
        return super().post(request, request_id)

    def act(self, request: Request, disclosure: DisclosureRequest, data: dict[str, Any]) -> None:
        review.disclosure_approve(disclosure=disclosure, approver=required_staff(request),
                                  reason=data["reason"])


class DisclosureRequestRejectApi(_StaffAction):
    permission_classes = [APPROVERS]
    input_class = ReasonInput

    @extend_schema(operation_id="disclosure_request_reject", parameters=[_ID],
                   request=ReasonInput, responses={200: StaffDisclosureRequestOutput, **_ERRORS})
    def post(self, request: Request, request_id: UUID) -> Response:
        return super().post(request, request_id)

    def act(self, request: Request, disclosure: DisclosureRequest, data: dict[str, Any]) -> None:
        review.disclosure_reject(disclosure=disclosure, approver=required_staff(request),
                                 reason=data["reason"])


class QuestionInput(StrictSerializer):
    question = serializers.CharField(max_length=5000)


class DisclosureRequestInformationRequestApi(_StaffAction):
    permission_classes = [REVIEWERS]
    input_class = QuestionInput

    @extend_schema(operation_id="disclosure_request_information_request", parameters=[_ID],
                   request=QuestionInput,
                   responses={200: StaffDisclosureRequestOutput, **_ERRORS},
                   description="in_review -> needs_information; the agency is emailed.")
    def post(self, request: Request, request_id: UUID) -> Response:
        return super().post(request, request_id)

    def act(self, request: Request, disclosure: DisclosureRequest, data: dict[str, Any]) -> None:
        review.disclosure_information_ask(disclosure=disclosure, staff=required_staff(request),
                                          question=data["question"])


class CallbackInput(StrictSerializer):
    method = serializers.ChoiceField(
        choices=("phone", "email"),
        help_text="Which contact on file for the agency was used (never the request's own).",
    )
    notes = serializers.CharField(max_length=5000, required=False, default="")


class DisclosureRequestCallbackVerificationApi(_StaffAction):
    permission_classes = [REVIEWERS]
    input_class = CallbackInput

    @extend_schema(
        operation_id="disclosure_request_callback_verification", parameters=[_ID],
        request=CallbackInput, responses={200: StaffDisclosureRequestOutput, **_ERRORS},
        description="Emergency requests: record that you called the agency back on the "
                    "contact details on file (agency_callback_phone / agency_callback_email) "
                    "and the requester confirmed. You cannot then approve the request.",
    )
    def post(self, request: Request, request_id: UUID) -> Response:
        return super().post(request, request_id)

    def act(self, request: Request, disclosure: DisclosureRequest, data: dict[str, Any]) -> None:
        review.disclosure_callback_verify(disclosure=disclosure, staff=required_staff(request),
                                          method=data["method"], notes=data["notes"])


class RetrospectiveInput(StrictSerializer):
    upheld = serializers.BooleanField(help_text="Was the emergency release justified?")
    reason = serializers.CharField(max_length=5000)


class DisclosureRequestRetrospectiveReviewApi(_StaffAction):
    permission_classes = [APPROVERS]
    input_class = RetrospectiveInput

    @extend_schema(
        operation_id="disclosure_request_retrospective_review", parameters=[_ID],
        request=RetrospectiveInput, responses={200: StaffDisclosureRequestOutput, **_ERRORS},
        description="Emergency requests: one of the two retrospective reviews due within "
                    f"{settings.DISCLOSURE_EMERGENCY_REVIEW_HOURS} hours of approval, by an "
                    "approver not otherwise involved.",
    )
    def post(self, request: Request, request_id: UUID) -> Response:
        return super().post(request, request_id)

    def act(self, request: Request, disclosure: DisclosureRequest, data: dict[str, Any]) -> None:
        review.disclosure_retrospective_review(
            disclosure=disclosure, approver=required_staff(request),
            upheld=data["upheld"], reason=data["reason"],
        )


class _AgencyAction(APIView):
    permission_classes = [AgencyKey]


class WithdrawInput(StrictSerializer):
    reason = serializers.CharField(max_length=5000, required=False, default="")


class DisclosureRequestWithdrawApi(_AgencyAction):
    @extend_schema(operation_id="disclosure_request_withdraw", parameters=[_ID],
                   request=WithdrawInput, responses={200: DisclosureRequestOutput, **_ERRORS})
    def post(self, request: Request, request_id: UUID) -> Response:
        payload = WithdrawInput(data=request.data)
        payload.is_valid(raise_exception=True)
        agency = required_agency(request)
        disclosure = selectors.disclosure_get_for_agency(agency=agency, disclosure_id=request_id)
        review.disclosure_withdraw(disclosure=disclosure, agency=agency,
                                   reason=payload.validated_data["reason"])
        return disclosure_response(request, _reload(disclosure))


class AnswerInput(StrictSerializer):
    answer = serializers.CharField(max_length=20000)


class DisclosureRequestInformationResponseApi(_AgencyAction):
    @extend_schema(operation_id="disclosure_request_information_response", parameters=[_ID],
                   request=AnswerInput, responses={200: DisclosureRequestOutput, **_ERRORS},
                   description="Answer the escrow's request for information: "
                               "needs_information -> in_review.")
    def post(self, request: Request, request_id: UUID) -> Response:
        payload = AnswerInput(data=request.data)
        payload.is_valid(raise_exception=True)
        agency = required_agency(request)
        disclosure = selectors.disclosure_get_for_agency(agency=agency, disclosure_id=request_id)
        review.disclosure_information_answer(disclosure=disclosure, agency=agency,
                                             answer=payload.validated_data["answer"])
        return disclosure_response(request, _reload(disclosure))


class LegalBasisOutput(serializers.Serializer):
    code = serializers.CharField()
    jurisdiction = serializers.CharField(source="jurisdiction_id")
    name = serializers.CharField()
    releasable_fields = serializers.ListField(child=serializers.CharField())
    approvals_required = serializers.IntegerField()
    is_emergency = serializers.BooleanField()
    is_enabled = serializers.BooleanField()


class LegalBasisListApi(APIView):
    permission_classes = [AgencyKey | STAFF_READERS]

    @extend_schema(operation_id="legal_basis_list", parameters=[PageQuery],
                   responses={200: LegalBasisOutput(many=True)},
                   description="Agencies see the enabled bases of their own jurisdiction. By "
                               "code, paged (Link). No filters: any other query parameter is "
                               "a 400.")
    def get(self, request: Request) -> Response:
        PageQuery(data=query_once(request)).is_valid(raise_exception=True)
        bases = selectors.legal_basis_list(agency=calling_agency(request))
        return paginated_response(request=request, queryset=bases,
                                  serializer_class=LegalBasisOutput, view=self)
