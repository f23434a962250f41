"""Staff sign-in over the API (under /api/v1/)."""

from django.urls import path

from accounts.api import StaffTokenCreateApi, StaffTokenRevokeApi

urlpatterns = [
    path("auth/token", StaffTokenCreateApi.as_view(), name="staff-token-create"),
    path("auth/token/current", StaffTokenRevokeApi.as_view(), name="staff-token-revoke"),
]
