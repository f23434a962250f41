"""Accounts over the API: staff sign-in (password + TOTP -> short-lived personal token),
and a platform's webhook endpoints."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import (
    ApiCredential,
    StaffToken,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)
from accounts.permissions import PlatformScope
from accounts.principals import required_platform
from accounts.selectors import (
    webhook_delivery_list_for_endpoint,
    webhook_endpoint_get_for_platform,
    webhook_endpoint_list_for_platform,
)
from accounts.services import (
    WEBHOOK_ROTATION_OVERLAP_MAX,
    staff_sign_in,
    staff_token_revoke,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_ping,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)
from accounts.throttling import SignInRateThrottle
from escrow.api.pagination import PageQuery
from escrow.api.serializers import StrictSerializer
from escrow.log.events import Actor


class StaffTokenCreateApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [SignInRateThrottle]

    class Input(StrictSerializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=256, trim_whitespace=False)
        otp_code = serializers.RegexField(r"^[0-9]{6,8}$")

    class Output(serializers.Serializer):
        token = serializers.CharField(help_text="Shown once; send as Authorization: Bearer.")
        expires_at = serializers.DateTimeField()
        roles = serializers.ListField(child=serializers.CharField())

    @extend_schema(operation_id="staff_token_create", request=Input, responses={201: Output},
                   auth=[])
    def post(self, request: Request) -> Response:
        payload = self.Input(data=request.data)
        payload.is_valid(raise_exception=True)
        # The Django request: the sign-in limits count its client address.
        issued = staff_sign_in(**payload.validated_data, request=request._request)
        roles = sorted(issued.token.user.groups.values_list("name", flat=True))
        body = self.Output(
            {"token": issued.secret, "expires_at": issued.token.expires_at, "roles": roles}
        ).data
        response = Response(body, status=status.HTTP_201_CREATED)
        # The token resource: DELETE there signs out (with the token as the credential).
        response["Location"] = reverse("staff-token-revoke")
        return response


class StaffTokenRevokeApi(APIView):
    """Revoke the token this request is authenticated with (sign out)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="staff_token_revoke", request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, StaffToken):
            raise PermissionDenied("only a staff token can sign itself out")
        staff_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Webhook endpoints: a platform registers where it receives signed events ----------

_ENDPOINT_ID = OpenApiParameter("endpoint_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
# Changing where events go takes the platform's write key: a read-only key must not be
# able to subscribe itself to disclosure notices.
_READ = ApiCredential.Scope.ENROLMENTS_READ
_WRITE = ApiCredential.Scope.ENROLMENTS_WRITE
_NOT_FOUND = {404: OpenApiResponse(description="not_found: no such endpoint for this platform")}
_URL_HELP = ("Where events are POSTed. https, with no credentials or fragment; http only to "
             "127.0.0.1/localhost where the operator allows it (the demo).")
_ENABLED_HELP = "Disabled endpoints receive nothing; their due deliveries are abandoned."
_SHOWN_ONCE_HELP = ("The Standard Webhooks signing secret (whsec_...), shown once: store "
                    "it now. Verify each delivery's webhook-signature with it.")


def _event_types_field(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices), max_length=10,
        help_text="Event types to receive; empty or absent means every type.", **kwargs,
    )


class WebhookEndpointOutput(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField(source="is_active", help_text=_ENABLED_HELP)
    created_at = serializers.DateTimeField()
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True,
        help_text="After a rotation: until then deliveries carry a second signature, made "
                  "with the previous secret.",
    )


class WebhookEndpointCreatedOutput(WebhookEndpointOutput):
    signing_secret = serializers.CharField(help_text=_SHOWN_ONCE_HELP)


def _endpoint_for_caller(request: Request, endpoint_id: UUID) -> WebhookEndpoint:
    return webhook_endpoint_get_for_platform(platform=required_platform(request),
                                             endpoint_id=endpoint_id)


def _created(endpoint: WebhookEndpoint, secret: str) -> dict[str, Any]:
    # The only answers that carry the secret (WebhookEndpointCreatedOutput in the schema).
    return {**WebhookEndpointOutput(endpoint).data, "signing_secret": secret}


class _PlatformListApi(ListAPIView):
    """A list in the project's default pagination; no filters, so any query parameter
    but the paging ones is a 400."""

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        PageQuery(data=request.query_params.dict()).is_valid(raise_exception=True)
        return super().list(request, *args, **kwargs)


class WebhookEndpointListCreateApi(_PlatformListApi):
    permission_classes = [PlatformScope]
    required_scope = {"GET": _READ, "POST": _WRITE}
    serializer_class = WebhookEndpointOutput

    class Input(StrictSerializer):
        """A new endpoint; unknown fields are refused."""

        url = serializers.URLField(max_length=500, help_text=_URL_HELP)
        description = serializers.CharField(max_length=200, required=False, default="",
                                            allow_blank=True)
        event_types = _event_types_field(required=False, default=list)

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        return webhook_endpoint_list_for_platform(platform=required_platform(self.request))

    @extend_schema(operation_id="webhook_endpoint_list",
                   description="This platform's endpoints, oldest first. Never the secrets.")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.list(request, *args, **kwargs)

    @extend_schema(
        operation_id="webhook_endpoint_create", request=Input,
        responses={201: WebhookEndpointCreatedOutput,
                   409: OpenApiResponse(description="webhook_endpoint_limit_reached"),
                   422: OpenApiResponse(description="webhook_url_rejected")},
        description="Register an endpoint. The answer is the only time the signing secret "
                    "is shown; `Location` names the new endpoint.",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = self.Input(data=request.data)
        payload.is_valid(raise_exception=True)
        issued = webhook_endpoint_create(
            platform=required_platform(request), url=payload.validated_data["url"],
            description=payload.validated_data["description"],
            event_types=list(payload.validated_data["event_types"]),
            actor=Actor.for_platform(required_platform(request).id),
        )
        response = Response(_created(issued.endpoint, issued.signing_secret),
                            status=status.HTTP_201_CREATED)
        response["Location"] = reverse("webhook-endpoint-detail",
                                       kwargs={"endpoint_id": issued.endpoint.id})
        return response


class WebhookEndpointDetailApi(APIView):
    permission_classes = [PlatformScope]
    required_scope = {"GET": _READ, "PATCH": _WRITE, "DELETE": _WRITE}

    class Input(StrictSerializer):
        """The fields to change; those left out stay as they are."""

        url = serializers.URLField(max_length=500, required=False, help_text=_URL_HELP)
        description = serializers.CharField(max_length=200, required=False, allow_blank=True)
        event_types = _event_types_field(required=False)
        enabled = serializers.BooleanField(required=False, help_text=_ENABLED_HELP)

    @extend_schema(operation_id="webhook_endpoint_get", parameters=[_ENDPOINT_ID],
                   responses={200: WebhookEndpointOutput, **_NOT_FOUND})
    def get(self, request: Request, endpoint_id: UUID) -> Response:
        return Response(WebhookEndpointOutput(_endpoint_for_caller(request, endpoint_id)).data)

    @extend_schema(operation_id="webhook_endpoint_update", parameters=[_ENDPOINT_ID],
                   request=Input,
                   responses={200: WebhookEndpointOutput, **_NOT_FOUND,
                              422: OpenApiResponse(description="webhook_url_rejected")},
                   description="Change the URL, description, event types or enabled flag; "
                               "fields left out stay as they are.")
    def patch(self, request: Request, endpoint_id: UUID) -> Response:
        endpoint = _endpoint_for_caller(request, endpoint_id)
        payload = self.Input(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        updated = webhook_endpoint_update(
            endpoint=endpoint, url=data.get("url"), description=data.get("description"),
            event_types=data.get("event_types"), is_active=data.get("enabled"),
            actor=Actor.for_platform(endpoint.platform_id),
        )
        return Response(WebhookEndpointOutput(updated).data)

    @extend_schema(operation_id="webhook_endpoint_delete", parameters=[_ENDPOINT_ID],
                   responses={204: None, **_NOT_FOUND},
                   description="Delete the endpoint and its delivery history; nothing more "
                               "is sent to it.")
    def delete(self, request: Request, endpoint_id: UUID) -> Response:
        endpoint = _endpoint_for_caller(request, endpoint_id)
        webhook_endpoint_delete(endpoint=endpoint, actor=Actor.for_platform(endpoint.platform_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRotateSecretApi(APIView):
    permission_classes = [PlatformScope]
    required_scope = _WRITE

    class Input(StrictSerializer):
        """How the rotation overlaps; an empty body takes the default."""

        overlap_seconds = serializers.IntegerField(
            required=False, min_value=0,
            max_value=int(WEBHOOK_ROTATION_OVERLAP_MAX.total_seconds()),
            help_text="How long the previous secret keeps signing beside the new one "
                      "(default WEBHOOK_SECRET_OVERLAP_SECONDS, 24 hours; 0 ends it now).",
        )

    @extend_schema(operation_id="webhook_endpoint_rotate_secret", parameters=[_ENDPOINT_ID],
                   request=Input, responses={200: WebhookEndpointCreatedOutput, **_NOT_FOUND},
                   description="Issue a new signing secret, shown once. Until "
                               "`previous_secret_expires_at` each delivery's webhook-signature "
                               "holds two space-separated signatures, one per secret.")
    def post(self, request: Request, endpoint_id: UUID) -> Response:
        endpoint = _endpoint_for_caller(request, endpoint_id)
        payload = self.Input(data=request.data)
        payload.is_valid(raise_exception=True)
        overlap = payload.validated_data.get(
            "overlap_seconds", settings.WEBHOOK_SECRET_OVERLAP_SECONDS
        )
        issued = webhook_endpoint_rotate_secret(
            endpoint=endpoint, overlap=timedelta(seconds=overlap),
            actor=Actor.for_platform(endpoint.platform_id),
        )
        return Response(_created(issued.endpoint, issued.signing_secret))


class WebhookDeliveryOutput(serializers.Serializer):
    class Attempt(serializers.Serializer):
        attempted_at = serializers.DateTimeField()
        status_code = serializers.IntegerField(allow_null=True,
                                               help_text="The receiver's HTTP status, if any.")
        error = serializers.CharField(help_text="Why it failed, e.g. 'HTTP 500', "
                                                "'TimeoutError'; empty on success.")
        duration_ms = serializers.IntegerField()
        succeeded = serializers.BooleanField()

    id = serializers.CharField(source="webhook_id", help_text="The webhook-id header sent.")
    event_type = serializers.CharField()
    status = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    next_attempt_at = serializers.SerializerMethodField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    abandoned_at = serializers.DateTimeField(allow_null=True)
    attempts = Attempt(source="attempt_log", many=True)

    def get_status(self, delivery: WebhookDelivery) -> str:
        if delivery.delivered_at is not None:
            return "delivered"
        return "abandoned" if delivery.abandoned_at is not None else "pending"

    def get_next_attempt_at(self, delivery: WebhookDelivery) -> datetime | None:
        pending = delivery.delivered_at is None and delivery.abandoned_at is None
        return delivery.due_at if pending else None


class WebhookEndpointPingApi(APIView):
    permission_classes = [PlatformScope]
    required_scope = _WRITE

    @extend_schema(operation_id="webhook_endpoint_ping", parameters=[_ENDPOINT_ID], request=None,
                   responses={202: WebhookDeliveryOutput, **_NOT_FOUND,
                              409: OpenApiResponse(
                                  description="webhook_ping_pending or webhook_endpoint_disabled")},
                   description="Queue a signed `webhook.test` event; it is sent like any other "
                               "event (and retried) and appears in the delivery history.")
    def post(self, request: Request, endpoint_id: UUID) -> Response:
        endpoint = _endpoint_for_caller(request, endpoint_id)
        delivery = webhook_endpoint_ping(endpoint=endpoint)
        return Response(WebhookDeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryListApi(_PlatformListApi):
    permission_classes = [PlatformScope]
    required_scope = _READ
    serializer_class = WebhookDeliveryOutput

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        endpoint = _endpoint_for_caller(self.request, self.kwargs["endpoint_id"])
        return webhook_delivery_list_for_endpoint(endpoint=endpoint)

    @extend_schema(operation_id="webhook_delivery_list", parameters=[_ENDPOINT_ID],
                   responses={200: WebhookDeliveryOutput(many=True), **_NOT_FOUND},
                   description="The endpoint's deliveries, newest first, each with its "
                               "attempts. Payloads are not repeated here.")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.list(request, *args, **kwargs)
