"""The vault's API (under /api/v1/): enrolments for platforms, legal holds for agencies."""

from django.urls import path

from escrow.vault.api.enrolments import (
    EnrolmentBanApi,
    EnrolmentCreateApi,
    EnrolmentDetailApi,
    EnrolmentUnbanApi,
)
from escrow.vault.api.holds import (
    LegalHoldDetailApi,
    LegalHoldExtendApi,
    LegalHoldLiftApi,
    LegalHoldListCreateApi,
)

urlpatterns = [
    path("enrolments", EnrolmentCreateApi.as_view(), name="enrolment-create"),
    path("enrolments/<str:pseudonym>", EnrolmentDetailApi.as_view(), name="enrolment-detail"),
    path("enrolments/<str:pseudonym>/ban", EnrolmentBanApi.as_view(), name="enrolment-ban"),
    path("enrolments/<str:pseudonym>/unban", EnrolmentUnbanApi.as_view(), name="enrolment-unban"),
    path("legal-holds", LegalHoldListCreateApi.as_view(), name="legal-hold-list"),
    path("legal-holds/<uuid:hold_id>", LegalHoldDetailApi.as_view(), name="legal-hold-detail"),
    path("legal-holds/<uuid:hold_id>/extend", LegalHoldExtendApi.as_view(),
         name="legal-hold-extend"),
    path("legal-holds/<uuid:hold_id>/lift", LegalHoldLiftApi.as_view(), name="legal-hold-lift"),
]
