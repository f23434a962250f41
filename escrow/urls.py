from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api import StaffTokenCreateApi, StaffTokenRevokeApi
from escrow import health
from escrow.api.enrolments import (
    EnrolmentBanApi,
    EnrolmentCreateApi,
    EnrolmentDetailApi,
    EnrolmentUnbanApi,
)

api_v1 = [
    path("auth/token", StaffTokenCreateApi.as_view(), name="staff-token-create"),
    path("auth/token/current", StaffTokenRevokeApi.as_view(), name="staff-token-revoke"),
    path("enrolments", EnrolmentCreateApi.as_view(), name="enrolment-create"),
    path("enrolments/<str:pseudonym>", EnrolmentDetailApi.as_view(), name="enrolment-detail"),
    path("enrolments/<str:pseudonym>/ban", EnrolmentBanApi.as_view(), name="enrolment-ban"),
    path("enrolments/<str:pseudonym>/unban", EnrolmentUnbanApi.as_view(), name="enrolment-unban"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz/live", health.liveness, name="health-live"),
    path("healthz/ready", health.readiness, name="health-ready"),
    path("admin/", admin.site.urls),
]

handler400 = "escrow.api.problems.handler400"
handler403 = "escrow.api.problems.handler403"
handler404 = "escrow.api.problems.handler404"
handler500 = "escrow.api.problems.handler500"
