from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api import StaffTokenCreateApi, StaffTokenRevokeApi
from escrow import health
from escrow.api import problems
from escrow.api.enrolments import (
    EnrolmentBanApi,
    EnrolmentCreateApi,
    EnrolmentDetailApi,
    EnrolmentUnbanApi,
)
from escrow.log.api import (
    AuditConsistencyProofApi,
    AuditEventDetailApi,
    AuditEventListApi,
    AuditExportApi,
    AuditInclusionProofApi,
    AuditSealedDetailOpenApi,
    LogCheckpointApi,
    LogCosignatureApi,
    LogEntryBundleApi,
    LogHashTileApi,
    LogVerifierKeyApi,
)
from legal_requests.api.disclosures import (
    DisclosureRequestApproveApi,
    DisclosureRequestCallbackVerificationApi,
    DisclosureRequestDetailApi,
    DisclosureRequestDocumentApi,
    DisclosureRequestInformationRequestApi,
    DisclosureRequestInformationResponseApi,
    DisclosureRequestListCreateApi,
    DisclosureRequestRejectApi,
    DisclosureRequestRetrospectiveReviewApi,
    DisclosureRequestReviewApi,
    DisclosureRequestWithdrawApi,
    LegalBasisListApi,
)
from legal_requests.api.holds import (
    LegalHoldDetailApi,
    LegalHoldExtendApi,
    LegalHoldLiftApi,
    LegalHoldListCreateApi,
)
from legal_requests.api.release import (
    DisclosurePackageApi,
    ReleaseChallengeApi,
    ReleasePartialApi,
    ReleaseStatusApi,
)
from legal_requests.api.transparency import TransparencyReportApi

api_v1 = [
    path("auth/token", StaffTokenCreateApi.as_view(), name="staff-token-create"),
    path("auth/token/current", StaffTokenRevokeApi.as_view(), name="staff-token-revoke"),
    path("enrolments", EnrolmentCreateApi.as_view(), name="enrolment-create"),
    path("enrolments/<str:pseudonym>", EnrolmentDetailApi.as_view(), name="enrolment-detail"),
    path("enrolments/<str:pseudonym>/ban", EnrolmentBanApi.as_view(), name="enrolment-ban"),
    path("enrolments/<str:pseudonym>/unban", EnrolmentUnbanApi.as_view(), name="enrolment-unban"),
    path("releases/<str:request_id>", ReleaseStatusApi.as_view(), name="release-status"),
    path("releases/<str:request_id>/challenge", ReleaseChallengeApi.as_view(),
         name="release-challenge"),
    path("releases/<str:request_id>/partials", ReleasePartialApi.as_view(),
         name="release-partials"),
    path("disclosure-requests/<str:request_id>/package", DisclosurePackageApi.as_view(),
         name="disclosure-package"),
    path("legal-bases", LegalBasisListApi.as_view(), name="legal-basis-list"),
    path("disclosure-requests", DisclosureRequestListCreateApi.as_view(),
         name="disclosure-request-list"),
    path("disclosure-requests/<uuid:request_id>", DisclosureRequestDetailApi.as_view(),
         name="disclosure-request-detail"),
    path("disclosure-requests/<uuid:request_id>/document", DisclosureRequestDocumentApi.as_view(),
         name="disclosure-request-document"),
    path("disclosure-requests/<uuid:request_id>/withdraw", DisclosureRequestWithdrawApi.as_view(),
         name="disclosure-request-withdraw"),
    path("disclosure-requests/<uuid:request_id>/information-response",
         DisclosureRequestInformationResponseApi.as_view(),
         name="disclosure-request-information-response"),
    path("disclosure-requests/<uuid:request_id>/review", DisclosureRequestReviewApi.as_view(),
         name="disclosure-request-review"),
    path("disclosure-requests/<uuid:request_id>/approve", DisclosureRequestApproveApi.as_view(),
         name="disclosure-request-approve"),
    path("disclosure-requests/<uuid:request_id>/reject", DisclosureRequestRejectApi.as_view(),
         name="disclosure-request-reject"),
    path("disclosure-requests/<uuid:request_id>/request-information",
         DisclosureRequestInformationRequestApi.as_view(),
         name="disclosure-request-request-information"),
    path("disclosure-requests/<uuid:request_id>/callback-verification",
         DisclosureRequestCallbackVerificationApi.as_view(),
         name="disclosure-request-callback-verification"),
    path("disclosure-requests/<uuid:request_id>/retrospective-review",
         DisclosureRequestRetrospectiveReviewApi.as_view(),
         name="disclosure-request-retrospective-review"),
    path("legal-holds", LegalHoldListCreateApi.as_view(), name="legal-hold-list"),
    path("legal-holds/<uuid:hold_id>", LegalHoldDetailApi.as_view(), name="legal-hold-detail"),
    path("legal-holds/<uuid:hold_id>/extend", LegalHoldExtendApi.as_view(),
         name="legal-hold-extend"),
    path("legal-holds/<uuid:hold_id>/lift", LegalHoldLiftApi.as_view(), name="legal-hold-lift"),
    path("transparency-reports", TransparencyReportApi.as_view(), name="transparency-report"),
]

audit_v1 = [
    path("events", AuditEventListApi.as_view(), name="audit-event-list"),
    path("events/<int:event_id>", AuditEventDetailApi.as_view(), name="audit-event-detail"),
    path("events/<int:event_id>/sealed-detail", AuditSealedDetailOpenApi.as_view(),
         name="audit-sealed-detail-open"),
    path("events/<int:event_id>/inclusion-proof", AuditInclusionProofApi.as_view(),
         name="audit-inclusion-proof"),
    path("consistency-proof", AuditConsistencyProofApi.as_view(), name="audit-consistency-proof"),
    path("export", AuditExportApi.as_view(), name="audit-export"),
]

# C2SP tlog-tiles resources; the tile path is parsed (and checked canonical) by the view.
log_tiles = [
    path("checkpoint", LogCheckpointApi.as_view(), name="log-checkpoint"),
    path("verifier-key", LogVerifierKeyApi.as_view(), name="log-verifier-key"),
    path("cosignature", LogCosignatureApi.as_view(), name="log-cosignature"),
    re_path(r"^tile/entries/(?P<path>.+)$", LogEntryBundleApi.as_view(), name="log-entries"),
    re_path(r"^tile/(?P<path>.+)$", LogHashTileApi.as_view(), name="log-tile"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/v1/audit/", include(audit_v1)),
    path("log/", include(log_tiles)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz/live", health.liveness, name="health-live"),
    path("healthz/ready", health.readiness, name="health-ready"),
    path("admin/", admin.site.urls),
    # Unknown API paths answer as the API does (problem+json), also with DEBUG on.
    re_path(r"^api/", problems.handler404),
]

handler400 = "escrow.api.problems.handler400"
handler403 = "escrow.api.problems.handler403"
handler404 = "escrow.api.problems.handler404"
handler500 = "escrow.api.problems.handler500"
