"""Staff sign-in and platforms' webhook endpoints over the API (under /api/v1/)."""

from django.urls import path

from accounts.api import (
    StaffTokenCreateApi,
    StaffTokenRevokeApi,
    WebhookDeliveryListApi,
    WebhookEndpointDetailApi,
    WebhookEndpointListCreateApi,
    WebhookEndpointPingApi,
    WebhookEndpointRotateSecretApi,
)

urlpatterns = [
    path("auth/token", StaffTokenCreateApi.as_view(), name="staff-token-create"),
    path("auth/token/current", StaffTokenRevokeApi.as_view(), name="staff-token-revoke"),
    path("webhook-endpoints", WebhookEndpointListCreateApi.as_view(),
         name="webhook-endpoint-list"),
    path("webhook-endpoints/<uuid:endpoint_id>", WebhookEndpointDetailApi.as_view(),
         name="webhook-endpoint-detail"),
    path("webhook-endpoints/<uuid:endpoint_id>/rotate-secret",
         WebhookEndpointRotateSecretApi.as_view(), name="webhook-endpoint-rotate-secret"),
    path("webhook-endpoints/<uuid:endpoint_id>/ping", WebhookEndpointPingApi.as_view(),
         name="webhook-endpoint-ping"),
    path("webhook-endpoints/<uuid:endpoint_id>/deliveries", WebhookDeliveryListApi.as_view(),
         name="webhook-delivery-list"),
]
