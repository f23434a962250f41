"""Disclosure requests, their release and the transparency report (under /api/v1/).

A request id is a UUID in every path: a malformed one matches no route here and is
answered 404 (problem+json) by the catch-all in config/urls.py.
"""

from django.urls import path

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
from legal_requests.api.release import (
    DisclosurePackageApi,
    DownloadSecretReissueApi,
    ReleaseChallengeApi,
    ReleasePartialApi,
    ReleaseStatusApi,
)
from legal_requests.api.transparency import TransparencyReportApi

urlpatterns = [
    path("releases/<uuid:request_id>", ReleaseStatusApi.as_view(), name="release-status"),
    path("releases/<uuid:request_id>/challenge", ReleaseChallengeApi.as_view(),
         name="release-challenge"),
    path("releases/<uuid:request_id>/partials", ReleasePartialApi.as_view(),
         name="release-partials"),
    path("disclosure-requests/<uuid:request_id>/package", DisclosurePackageApi.as_view(),
         name="disclosure-package"),
    path("disclosure-requests/<uuid:request_id>/package/reissue-secret",
         DownloadSecretReissueApi.as_view(), name="disclosure-package-reissue-secret"),
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
    path("transparency-reports", TransparencyReportApi.as_view(), name="transparency-report"),
]
