"""Platform-facing enrolment endpoints: thin views over escrow.vault.services."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiCredential, Platform
from accounts.permissions import PlatformScope
from accounts.principals import required_platform
from escrow.api.problems import problem_response
from escrow.api.serializers import StrictSerializer
from escrow.vault.api.enrolment_input import (
    ASSURANCE_LEVELS,
    COUNTRY,
    DOCUMENT_NUMBER,
    DOCUMENT_TYPES,
    IDENTIFYING_FIELDS,
    PHONE,
    date_of_birth_plausible,
    enrolment_input_valid,
    verified_at_plausible,
)
from escrow.vault.identity import Evidence, Identity, PostalAddress
from escrow.vault.metrics import ENROLMENTS
from escrow.vault.models import Enrolment
from escrow.vault.selectors import enrolment_get_for_platform, enrolment_status
from escrow.vault.services.enrolment import (
    EnrolmentResult,
    enrolment_ban,
    enrolment_create,
    enrolment_erase,
    enrolment_unban,
)

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{8,255}$")


class PostalAddressInput(StrictSerializer):
    lines = serializers.ListField(
        child=serializers.CharField(max_length=200), min_length=1, max_length=4
    )
    locality = serializers.CharField(max_length=100)
    postal_code = serializers.CharField(max_length=20)
    country = serializers.RegexField(COUNTRY)


class IdentityDocumentInput(StrictSerializer):
    type = serializers.ChoiceField(choices=DOCUMENT_TYPES)
    number = serializers.RegexField(DOCUMENT_NUMBER)
    country = serializers.RegexField(COUNTRY)


class IdentityInput(StrictSerializer):
    given_name = serializers.CharField(max_length=200, required=False)
    family_name = serializers.CharField(max_length=200, required=False)
    date_of_birth = serializers.DateField(required=False)
    postal_address = PostalAddressInput(required=False)
    email = serializers.EmailField(max_length=254, required=False)
    phone = serializers.RegexField(PHONE, required=False)
    document = IdentityDocumentInput(required=False)

    def validate_date_of_birth(self, value: date) -> date:
        if not date_of_birth_plausible(value):
            raise serializers.ValidationError("Date of birth out of range.", code="max_value")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not IDENTIFYING_FIELDS & set(attrs):
            raise serializers.ValidationError(
                "At least one of family_name, email, phone or document is required.",
                code="required",
            )
        return attrs


class EvidenceInput(StrictSerializer):
    provider = serializers.CharField(max_length=100)
    reference = serializers.CharField(max_length=200)
    assurance_level = serializers.ChoiceField(choices=ASSURANCE_LEVELS)
    verified_at = serializers.DateTimeField()

    def validate_verified_at(self, value: Any) -> Any:
        if not verified_at_plausible(value):
            raise serializers.ValidationError("verified_at is in the future.", code="max_value")
        return value


class EnrolmentStatusOutput(serializers.Serializer):
    pseudonym = serializers.CharField()
    status = serializers.ChoiceField(choices=("active", "banned", "erased"))
    legal_hold = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    banned_at = serializers.DateTimeField(allow_null=True)
    erased_at = serializers.DateTimeField(allow_null=True)
    assurance_level = serializers.CharField()


def _status_response(enrolment: Enrolment, code: int = status.HTTP_200_OK) -> Response:
    return Response(EnrolmentStatusOutput(enrolment_status(enrolment=enrolment)).data, status=code)


def _caller_enrolment(request: Request, pseudonym: str) -> tuple[Platform, Enrolment]:
    platform = required_platform(request)
    return platform, enrolment_get_for_platform(platform=platform, pseudonym=pseudonym)


# Stateless; its ISO 8601 rendering (UTC as "Z") is the one every answer uses.
_TIMESTAMP = serializers.DateTimeField()


def enrolment_created_body(result: EnrolmentResult) -> dict[str, Any]:
    """What `EnrolmentCreateApi.Output` renders, built without a serializer per request
    (it is the documented shape; tests/test_enrolment_api.py holds the two equal)."""
    return {
        "pseudonym": str(result.enrolment.pseudonym),
        "status": str(result.enrolment.status),
        "created_at": _TIMESTAMP.to_representation(result.enrolment.created_at),
        "already_enrolled": bool(result.existing_pseudonyms),
        "existing_pseudonyms": [str(p) for p in result.existing_pseudonyms],
        "banned_match": bool(result.any_banned),
    }


class EnrolmentCreateApi(APIView):
    permission_classes = [PlatformScope]
    required_scope = ApiCredential.Scope.ENROLMENTS_WRITE

    class Input(StrictSerializer):
        identity = IdentityInput()
        evidence = EvidenceInput()

    class Output(serializers.Serializer):
        pseudonym = serializers.CharField()
        status = serializers.CharField()
        created_at = serializers.DateTimeField()
        already_enrolled = serializers.BooleanField(
            help_text="This person already holds another pseudonym on this platform."
        )
        existing_pseudonyms = serializers.ListField(child=serializers.CharField())
        banned_match = serializers.BooleanField(
            help_text="At least one of those pseudonyms is banned (ban evasion)."
        )

    @extend_schema(
        operation_id="enrolment_create",
        request=Input,
        responses={201: Output},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                location=OpenApiParameter.HEADER,
                required=True,
                description="8-255 printable ASCII characters, unique per enrolment attempt.",
            ),
            OpenApiParameter(
                "Idempotent-Replayed",
                location=OpenApiParameter.HEADER,
                response=[201],
                enum=["true"],
                description="Present when this answer repeats the first one for the key.",
            ),
        ],
        description=(
            "Idempotency: a key is kept per platform for as long as the enrolment exists. "
            "Retrying with the same key and the same body stores nothing new and answers "
            "as the first time (201, the same body and Location, and Idempotent-Replayed: "
            "true), also when the retries race; the same key with a different body is 409 "
            "idempotency_key_reused; a missing or malformed key is 400 "
            "idempotency_key_required. `Location` names the enrolment."
        ),
    )
    def post(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key", "")
        if not _IDEMPOTENCY_KEY.match(key):
            return problem_response(
                status=400,
                code="idempotency_key_required",
                title="An Idempotency-Key header of 8-255 printable characters is required",
            )
        data = enrolment_input_valid(request.data)
        if data is None:  # invalid, or not plainly valid: the serializers decide
            payload = self.Input(data=request.data)
            payload.is_valid(raise_exception=True)
            data = payload.validated_data
        ident = data["identity"]
        address = ident.get("postal_address")
        document = ident.get("document") or {}
        identity = Identity(
            given_name=ident.get("given_name"),
            family_name=ident.get("family_name"),
            date_of_birth=ident.get("date_of_birth"),
            postal_address=PostalAddress(
                lines=tuple(address["lines"]),
                locality=address["locality"],
                postal_code=address["postal_code"],
                country=address["country"],
            )
            if address
            else None,
            email=ident.get("email"),
            phone=ident.get("phone"),
            document_type=document.get("type"),
            document_number=document.get("number"),
            document_country=document.get("country"),
        )
        evidence = Evidence(**data["evidence"])
        result = enrolment_create(
            platform=required_platform(request),
            identity=identity,
            evidence=evidence,
            idempotency_key=key,
        )
        response = Response(enrolment_created_body(result), status=status.HTTP_201_CREATED)
        response["Location"] = reverse("enrolment-detail",
                                       kwargs={"pseudonym": result.enrolment.pseudonym})
        if result.replayed:
            response["Idempotent-Replayed"] = "true"
        ENROLMENTS.labels(outcome="replayed" if result.replayed else "created").inc()
        return response


class EnrolmentDetailApi(APIView):
    permission_classes = [PlatformScope]
    required_scope = {
        "GET": ApiCredential.Scope.ENROLMENTS_READ,
        "DELETE": ApiCredential.Scope.ENROLMENTS_WRITE,
    }

    @extend_schema(operation_id="enrolment_status", responses={200: EnrolmentStatusOutput})
    def get(self, request: Request, pseudonym: str) -> Response:
        _, enrolment = _caller_enrolment(request, pseudonym)
        return _status_response(enrolment)

    @extend_schema(
        operation_id="enrolment_erase",
        description="Erase by crypto-shredding. Refused with 409 while a legal hold applies.",
        responses={200: EnrolmentStatusOutput},
    )
    def delete(self, request: Request, pseudonym: str) -> Response:
        platform, enrolment = _caller_enrolment(request, pseudonym)
        return _status_response(enrolment_erase(platform=platform, enrolment=enrolment))


class EnrolmentBanApi(APIView):
    permission_classes = [PlatformScope]
    required_scope = ApiCredential.Scope.ENROLMENTS_WRITE

    @extend_schema(operation_id="enrolment_ban", request=None,
                   responses={200: EnrolmentStatusOutput})
    def post(self, request: Request, pseudonym: str) -> Response:
        platform, enrolment = _caller_enrolment(request, pseudonym)
        return _status_response(enrolment_ban(platform=platform, enrolment=enrolment))


class EnrolmentUnbanApi(APIView):
    permission_classes = [PlatformScope]
    required_scope = ApiCredential.Scope.ENROLMENTS_WRITE

    @extend_schema(operation_id="enrolment_unban", request=None,
                   responses={200: EnrolmentStatusOutput})
    def post(self, request: Request, pseudonym: str) -> Response:
        platform, enrolment = _caller_enrolment(request, pseudonym)
        return _status_response(enrolment_unban(platform=platform, enrolment=enrolment))
