"""Legal holds (preservation requests) over the API."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import AgencyKey, HasRole
from accounts.principals import calling_agency, required_agency, required_staff
from accounts.roles import Role
from escrow.api.pagination import PageQuery, paginated_response
from escrow.api.serializers import StrictSerializer, query_once
from escrow.vault import selectors
from escrow.vault.models import LegalHold
from escrow.vault.services import holds

HOLD_STAFF = HasRole(Role.INTAKE_OFFICER, Role.APPROVER)
HOLD_READERS = HasRole(Role.INTAKE_OFFICER, Role.APPROVER, Role.AUDITOR)
_ID = OpenApiParameter("hold_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class LegalHoldOutput(serializers.Serializer):
    id = serializers.UUIDField()
    pseudonym = serializers.CharField(source="enrolment.pseudonym")
    agency = serializers.UUIDField(source="agency_id", allow_null=True)
    placed_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    extended = serializers.BooleanField()
    lifted_at = serializers.DateTimeField(allow_null=True)
    is_active = serializers.SerializerMethodField()

    def get_is_active(self, obj: LegalHold) -> bool:
        return selectors.legal_hold_is_active(obj)


def _hold_for_caller(request: Request, hold_id: UUID) -> LegalHold:
    agency = calling_agency(request)
    if agency is not None:
        return selectors.legal_hold_get_for_agency(agency=agency, hold_id=hold_id)
    return selectors.legal_hold_get_for_staff(hold_id=hold_id)


class LegalHoldCreateInput(StrictSerializer):
    pseudonyms = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=100
    )
    case_reference = serializers.CharField(max_length=100)


class LegalHoldListCreateApi(APIView):
    def get_permissions(self) -> list[Any]:
        if self.request.method == "POST":
            return [AgencyKey()]
        return [(AgencyKey | HOLD_READERS)()]

    @extend_schema(operation_id="legal_hold_list", parameters=[PageQuery],
                   responses={200: LegalHoldOutput(many=True)},
                   description="Agencies see their own holds; staff see all. Newest first, "
                               "paged (Link). No filters: any other query parameter is a 400.")
    def get(self, request: Request) -> Response:
        PageQuery(data=query_once(request)).is_valid(raise_exception=True)
        agency = calling_agency(request)
        found = (
            selectors.legal_hold_list_for_agency(agency=agency)
            if agency is not None
            else selectors.legal_hold_list_for_staff()
        )
        return paginated_response(request=request, queryset=found,
                                  serializer_class=LegalHoldOutput, view=self)

    @extend_schema(
        operation_id="legal_hold_create",
        request=LegalHoldCreateInput,
        responses={
            201: LegalHoldOutput(many=True),
            409: OpenApiResponse(description="legal_hold_exists: extend the existing hold"),
            422: OpenApiResponse(description="unknown_pseudonym or jurisdiction_not_enabled"),
        },
        description="Preserve the named enrolments: erasure is refused for 90 days. Takes "
                    "effect at once; staff can extend a hold once, or lift it. One hold per "
                    "pseudonym, in the order given; `Location` names the first.",
    )
    def post(self, request: Request) -> Response:
        payload = LegalHoldCreateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        placed = holds.legal_hold_place(
            agency=required_agency(request),
            pseudonyms=list(payload.validated_data["pseudonyms"]),
            case_reference=payload.validated_data["case_reference"],
        )
        response = Response(LegalHoldOutput(placed, many=True).data,
                            status=status.HTTP_201_CREATED)
        response["Location"] = reverse("legal-hold-detail", kwargs={"hold_id": placed[0].pk})
        return response


class LegalHoldDetailApi(APIView):
    permission_classes = [AgencyKey | HOLD_READERS]

    @extend_schema(operation_id="legal_hold_get", parameters=[_ID],
                   responses={200: LegalHoldOutput})
    def get(self, request: Request, hold_id: UUID) -> Response:
        return Response(LegalHoldOutput(_hold_for_caller(request, hold_id)).data)


class HoldReasonInput(StrictSerializer):
    reason = serializers.CharField(max_length=5000, required=False, default="")


class LegalHoldExtendApi(APIView):
    permission_classes = [HOLD_STAFF]

    @extend_schema(operation_id="legal_hold_extend", parameters=[_ID], request=HoldReasonInput,
                   responses={200: LegalHoldOutput},
                   description="Extend an active hold once, by another 90 days.")
    def post(self, request: Request, hold_id: UUID) -> Response:
        payload = HoldReasonInput(data=request.data)
        payload.is_valid(raise_exception=True)
        hold = selectors.legal_hold_get_for_staff(hold_id=hold_id)
        extended = holds.legal_hold_extend(hold=hold, staff=required_staff(request),
                                           reason=payload.validated_data["reason"])
        return Response(LegalHoldOutput(extended).data)


class LegalHoldLiftApi(APIView):
    permission_classes = [HOLD_STAFF]

    @extend_schema(operation_id="legal_hold_lift", parameters=[_ID], request=HoldReasonInput,
                   responses={200: LegalHoldOutput})
    def post(self, request: Request, hold_id: UUID) -> Response:
        payload = HoldReasonInput(data=request.data)
        payload.is_valid(raise_exception=True)
        hold = selectors.legal_hold_get_for_staff(hold_id=hold_id)
        lifted = holds.legal_hold_lift(hold=hold, staff=required_staff(request),
                                       reason=payload.validated_data["reason"])
        return Response(LegalHoldOutput(lifted).data)
