"""The log's read side: C2SP tlog-tiles under /log/, the auditors' API under /api/v1/audit/."""

from django.urls import include, path, re_path

from escrow.audit.api import (
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
    path("log/", include(log_tiles)),
    path("api/v1/audit/", include(audit_v1)),
]
