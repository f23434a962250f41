"""The console's pages, mounted at /console/ by config/urls.py.

Every route here needs a row in tests/test_authorization_matrix.py (the test reads
this URLconf), saying which staff roles may open it.
"""

from django.urls import path

from console.views import audit, custodian, intake, requests, session, staff_admin, tenants_admin

urlpatterns = [
    path("", session.HomePage.as_view(), name="console-home"),
    path("sign-in", session.SignInPage.as_view(), name="console-sign-in"),
    path("sign-in/second-factor", session.EnrolmentPage.as_view(), name="console-enrol"),
    path("sign-out", session.SignOut.as_view(), name="console-sign-out"),
    path("requests/", requests.QueuePage.as_view(), name="console-queue"),
    path("requests/<uuid:request_id>/", requests.RequestPage.as_view(), name="console-request"),
    path("requests/<uuid:request_id>/document", requests.RequestDocument.as_view(),
         name="console-request-document"),
    path("requests/<uuid:request_id>/review", requests.RequestReviewStart.as_view(),
         name="console-request-review"),
    path("requests/<uuid:request_id>/information", requests.RequestInformation.as_view(),
         name="console-request-information"),
    path("requests/<uuid:request_id>/information/answer",
         requests.RequestInformationAnswer.as_view(),
         name="console-request-information-answer"),
    path("requests/new", intake.PaperRequestPage.as_view(), name="console-intake-new"),
    path("releases/", custodian.CustodianReleasesPage.as_view(), name="console-releases"),
    path("requests/<uuid:request_id>/callback", requests.RequestCallback.as_view(),
         name="console-request-callback"),
    path("requests/<uuid:request_id>/decision", requests.RequestDecision.as_view(),
         name="console-request-decision"),
    path("audit/events/", audit.AuditLogPage.as_view(), name="console-audit-events"),
    path("audit/events/<int:event_id>/", audit.AuditEventProofPage.as_view(),
         name="console-audit-event"),
    path("audit/transparency", audit.AuditTransparencyPage.as_view(),
         name="console-audit-transparency"),
    # Administrators (console/views/staff_admin.py, console/views/tenants_admin.py).
    path("administration/staff/", staff_admin.StaffListPage.as_view(), name="console-staff"),
    path("administration/staff/new", staff_admin.StaffCreate.as_view(),
         name="console-staff-create"),
    path("administration/staff/<int:user_id>/", staff_admin.StaffDetailPage.as_view(),
         name="console-staff-detail"),
    path("administration/staff/<int:user_id>/roles", staff_admin.StaffRoles.as_view(),
         name="console-staff-roles"),
    path("administration/staff/<int:user_id>/reset", staff_admin.StaffResetPropose.as_view(),
         name="console-staff-reset"),
    path("administration/staff/<int:user_id>/disable", staff_admin.StaffDisable.as_view(),
         name="console-staff-disable"),
    path("administration/staff/changes/<uuid:change_id>", staff_admin.StaffChangeDecide.as_view(),
         name="console-staff-change"),
    path("administration/platforms/", tenants_admin.PlatformListPage.as_view(),
         name="console-platforms"),
    path("administration/platforms/<uuid:platform_id>/", tenants_admin.PlatformPage.as_view(),
         name="console-platform"),
    path("administration/platforms/<uuid:platform_id>/keys", tenants_admin.KeyIssue.as_view(),
         name="console-key-issue"),
    path("administration/keys/<int:credential_id>/revoke", tenants_admin.KeyRevoke.as_view(),
         name="console-key-revoke"),
    path("administration/webhooks/<uuid:endpoint_id>/", tenants_admin.WebhookPage.as_view(),
         name="console-webhook"),
    path("administration/webhooks/<uuid:endpoint_id>/disable",
         tenants_admin.WebhookDisable.as_view(), name="console-webhook-disable"),
    path("administration/agencies/", tenants_admin.AgencyListPage.as_view(),
         name="console-agencies"),
]
