"""Staff sign-in over the API: password + TOTP -> short-lived personal token."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import StaffToken
from accounts.services import staff_sign_in, staff_token_revoke
from accounts.throttling import SignInRateThrottle
from escrow.api.serializers import StrictSerializer


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
        return Response(body, status=status.HTTP_201_CREATED)


class StaffTokenRevokeApi(APIView):
    """Revoke the token this request is authenticated with (sign out)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="staff_token_revoke", request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, StaffToken):
            raise PermissionDenied("only a staff token can sign itself out")
        staff_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)
