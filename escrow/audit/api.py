"""The log's HTTP surface: the public C2SP tlog-tiles read API and the auditor API.

/log/... serves exactly the resources a tlog-tiles client fetches (checkpoint, hash
tiles, entry bundles), so any such client verifies the log with no code of ours.
/api/v1/audit/... is for auditors (staff token, auditor role): events with their
log index, sealed details, proofs and the offline export.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404, HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from accounts.authentication import StaffTokenAuthentication
from accounts.permissions import HasRole
from accounts.principals import required_staff
from accounts.roles import Role
from escrow.api.conditional import conditional_response
from escrow.api.negotiation import OctetStreamRenderer, PlainTextRenderer
from escrow.api.serializers import StrictSerializer, query_once
from escrow.crypto.encoding import b64encode
from escrow.crypto.merkle import leaf_hash
from escrow.crypto.tiles import TilePathError, tile_path_parse
from escrow.log.events import Actor
from escrow.log.export import log_export_check, log_export_stream
from escrow.log.keys import log_identity
from escrow.log.selectors import (
    LoggedEvent,
    audit_event_get,
    audit_event_logged,
    audit_event_page,
    log_checkpoint_latest,
    log_checkpoint_served,
    log_consistency_proof,
    log_entry_bundle,
    log_hash_tile,
    log_inclusion_proof,
)
from escrow.log.services import (
    audit_event_open_sealed,
    audit_log_exported,
    log_cosignatures_add,
)

# C2SP tlog-tiles: full tiles never change; partial ones are superseded as the log
# grows, and the checkpoint moves on every batch. Each carries an ETag, so a client or a
# CDN revalidates the checkpoint with a 304 instead of fetching it again.
CACHE_IMMUTABLE = "public, max-age=31536000, immutable"
CACHE_PARTIAL = "public, max-age=10"
CACHE_CHECKPOINT = "no-cache"
CACHE_VERIFIER_KEY = "public, max-age=3600"

IsAuditor = HasRole(Role.AUDITOR)


class _PublicLogView(APIView):
    """Anyone may read; responses are cacheable by any CDN in front."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []


class _LogTextView(_PublicLogView):
    # C2SP clients ask for these as text/plain (or send */*, or no Accept at all).
    renderer_classes = [PlainTextRenderer]


class _LogTileView(_PublicLogView):
    # C2SP tlog-tiles clients ask for tiles as application/octet-stream.
    renderer_classes = [OctetStreamRenderer]


# Errors each tlog resource can answer besides those every /log/ operation documents
# (escrow/api/schema.py: 405, 406, 413, 503); each is a problem document.
_NO_CHECKPOINT_YET = {404: OpenApiResponse(description="The log has no signed checkpoint yet")}
_NO_SUCH_TILE = {404: OpenApiResponse(description="No such tile: beyond the tree, or not a "
                                                  "canonical tile path")}


@extend_schema(tags=["log"])
class LogCheckpointApi(_LogTextView):
    @extend_schema(
        operation_id="log_checkpoint",
        description="The latest C2SP tlog-checkpoint, signed as a C2SP signed-note.",
        responses={(200, "text/plain"): OpenApiTypes.STR, **_NO_CHECKPOINT_YET},
    )
    def get(self, request: Request) -> HttpResponse:
        checkpoint = log_checkpoint_latest()
        if checkpoint is None:
            raise Http404("the log has no checkpoint yet")
        response = HttpResponse(
            log_checkpoint_served(checkpoint), content_type="text/plain; charset=utf-8"
        )
        return conditional_response(request._request, response, cache_control=CACHE_CHECKPOINT)


@extend_schema(tags=["log"])
class LogVerifierKeyApi(_LogTextView):
    @extend_schema(
        operation_id="log_verifier_key",
        description="The log's verifier key, name+keyid+base64 (C2SP signed-note).",
        responses={(200, "text/plain"): OpenApiTypes.STR},
    )
    def get(self, request: Request) -> HttpResponse:
        response = HttpResponse(
            log_identity().verifier_key + "\n", content_type="text/plain; charset=utf-8"
        )
        return conditional_response(request._request, response,
                                    cache_control=CACHE_VERIFIER_KEY)


def _tile_response(request: Request, data: bytes, *, partial: bool,
                   auditors_only: bool = False) -> HttpResponse:
    cache_control = CACHE_PARTIAL if partial else CACHE_IMMUTABLE
    if auditors_only:
        # Kept to auditors: no shared cache may hand a copy to anyone else.
        cache_control = cache_control.replace("public", "private")
    response = HttpResponse(data, content_type="application/octet-stream")
    return conditional_response(request._request, response, cache_control=cache_control)


@extend_schema(tags=["log"])
class LogHashTileApi(_LogTileView):
    @extend_schema(
        operation_id="log_hash_tile",
        description="A C2SP tlog-tiles hash tile: tile/<L>/<N>[.p/<W>].",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **_NO_SUCH_TILE},
    )
    def get(self, request: Request, path: str) -> HttpResponse:
        try:
            tile = tile_path_parse(f"tile/{path}")
        except TilePathError:
            raise Http404("not a tile") from None
        data = None if tile.entries else log_hash_tile(tile=tile)
        if data is None:
            raise Http404("no such tile")
        return _tile_response(request, data, partial=tile.is_partial)


@extend_schema(tags=["log"])
class LogCosignatureApi(_PublicLogView):
    """Witnesses hand back the checkpoint with their C2SP tlog-cosignature lines added.

    Open to anyone: only a good cosignature by a configured witness key is kept.
    """

    class Output(serializers.Serializer):
        tree_size = serializers.IntegerField()
        added = serializers.ListField(child=serializers.CharField(),
                                      help_text="names of witnesses newly recorded")

    @extend_schema(
        operation_id="log_cosignature_add",
        request={"text/plain": OpenApiTypes.STR},
        responses={
            200: Output,
            404: OpenApiResponse(description="checkpoint_unknown: this log signed no such "
                                             "checkpoint"),
            422: OpenApiResponse(description="cosignature_rejected: not a checkpoint of this "
                                             "log cosigned by a configured witness"),
        },
    )
    def post(self, request: Request) -> Response:
        added = log_cosignatures_add(cosigned_checkpoint=request.body[:65536])
        tree_size = added[0].checkpoint.tree_size if added else None
        body = {"tree_size": tree_size or 0, "added": [c.witness_name for c in added]}
        return Response(self.Output(body).data)


class EntriesReadable(BasePermission):
    """Entry bundles are public unless the operator keeps them to auditors."""

    message = "entry bundles are for auditors on this log"

    def has_permission(self, request: Request, view: Any) -> bool:
        if not settings.ESCROW_LOG_ENTRIES_AUDITORS_ONLY:
            return True
        return IsAuditor().has_permission(request, view)


@extend_schema(tags=["log"])
class LogEntryBundleApi(_LogTileView):
    authentication_classes = [StaffTokenAuthentication]
    permission_classes = [EntriesReadable]

    @extend_schema(
        operation_id="log_entry_bundle",
        description=(
            "A C2SP tlog-tiles entry bundle: tile/entries/<N>[.p/<W>], each entry a "
            "big-endian uint16 length and the canonical JSON leaf."
        ),
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            **_NO_SUCH_TILE,
            401: OpenApiResponse(description="A bearer token was sent and is not a valid "
                                             "staff token"),
            403: OpenApiResponse(description="Entry bundles are kept to auditors on this log"),
        },
    )
    def get(self, request: Request, path: str) -> HttpResponse:
        try:
            tile = tile_path_parse(f"tile/entries/{path}")
        except TilePathError:
            raise Http404("not an entry bundle") from None
        data = log_entry_bundle(tile=tile)
        if data is None:
            raise Http404("no such entry bundle")
        return _tile_response(request, data, partial=tile.is_partial,
                              auditors_only=settings.ESCROW_LOG_ENTRIES_AUDITORS_ONLY)


# --- auditors ------------------------------------------------------------------------


def _auditor(request: Request) -> Actor:
    return Actor.for_staff(required_staff(request).pk, role=str(Role.AUDITOR))


class _AuditorView(APIView):
    authentication_classes = [StaffTokenAuthentication]
    permission_classes = [IsAuditor]


class AuditEventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    log_index = serializers.IntegerField(allow_null=True, help_text="null until sequenced")
    event_type = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    actor_kind = serializers.CharField()
    actor_ref = serializers.CharField()
    actor_role = serializers.CharField()
    object_ref = serializers.CharField()
    has_sealed_detail = serializers.BooleanField()
    entry = serializers.CharField(help_text="the canonical JSON leaf, as hashed")
    leaf_hash = serializers.CharField(help_text="base64 SHA-256(0x00 || entry)")


def _event_data(event: LoggedEvent) -> dict[str, Any]:
    # Every field comes from the hashed leaf, never from the row's copied columns:
    # an auditor sees what the signed log says, whatever was rewritten beside it.
    leaf = event.leaf
    return {
        "id": event.id,
        "log_index": event.log_index,
        "event_type": leaf.event_type,
        "occurred_at": leaf.occurred_at,
        "actor_kind": leaf.actor_kind,
        "actor_ref": leaf.actor_ref,
        "actor_role": leaf.actor_role,
        "object_ref": leaf.object_ref,
        "has_sealed_detail": leaf.sealed is not None,
        "entry": event.entry.decode("utf-8"),
        "leaf_hash": b64encode(leaf_hash(event.entry)),
    }


@extend_schema(tags=["audit"])
class AuditEventListApi(_AuditorView):
    class Input(StrictSerializer):
        event_type = serializers.CharField(max_length=64, required=False)
        object_ref = serializers.CharField(max_length=100, required=False)
        actor_kind = serializers.CharField(max_length=16, required=False)
        occurred_after = serializers.DateTimeField(required=False)
        occurred_before = serializers.DateTimeField(required=False)
        sequenced = serializers.BooleanField(required=False, allow_null=True, default=None)
        after = serializers.IntegerField(
            min_value=0, required=False,
            help_text="cursor: events with a larger id (the next page's Link carries it)")
        page_size = serializers.IntegerField(min_value=1, max_value=500, required=False,
                                             help_text="events per page, 1 to 500 (default "
                                                       "100)")
        limit = serializers.IntegerField(min_value=1, max_value=500, required=False,
                                         help_text="deprecated: the earlier name of page_size")

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if "page_size" in attrs and "limit" in attrs:
                raise serializers.ValidationError("Give page_size or limit, not both.",
                                                  code="not_allowed")
            attrs["limit"] = attrs.pop("page_size", None) or attrs.get("limit") or 100
            return attrs

    class Output(serializers.Serializer):
        events = AuditEventOutput(many=True)
        next_after = serializers.IntegerField(
            allow_null=True,
            help_text="cursor for the next page, null when nothing further matches; a page "
                      "scans a bounded number of events, so it may hold fewer than `limit`",
        )

    @extend_schema(operation_id="audit_event_list", parameters=[Input], responses={200: Output})
    def get(self, request: Request) -> Response:
        query = self.Input(data=query_once(request))
        query.is_valid(raise_exception=True)
        data = query.validated_data
        page = audit_event_page(after_id=data.pop("after", None), **data)
        body = {
            "events": [_event_data(e) for e in page.events],
            "next_after": page.next_after,
        }
        response = Response(self.Output(body).data)
        if page.next_after is not None:
            # RFC 8288, as every list links its next page (escrow/api/pagination.py).
            url = replace_query_param(request.build_absolute_uri(), "after", page.next_after)
            response["Link"] = f'<{url}>; rel="next"'
        return response


@extend_schema(tags=["audit"])
class AuditEventDetailApi(_AuditorView):
    @extend_schema(operation_id="audit_event_detail", responses={200: AuditEventOutput})
    def get(self, request: Request, event_id: int) -> Response:
        return Response(AuditEventOutput(_event_data(audit_event_logged(event_id=event_id))).data)


@extend_schema(tags=["audit"])
class AuditSealedDetailOpenApi(_AuditorView):
    class Input(StrictSerializer):
        reason = serializers.CharField(min_length=10, max_length=1000)

    class Output(serializers.Serializer):
        event_id = serializers.IntegerField()
        commitment = serializers.CharField(help_text="hex, as in the entry's `sealed`")
        salt = serializers.CharField(help_text="hex")
        detail = serializers.DictField()

    @extend_schema(
        operation_id="audit_sealed_detail_open",
        description=(
            "Open an event's sealed detail and check it against the logged commitment. "
            "The opening is itself logged; the reason is sealed in that event."
        ),
        request=Input,
        responses={200: Output},
    )
    def post(self, request: Request, event_id: int) -> Response:
        payload = self.Input(data=request.data)
        payload.is_valid(raise_exception=True)
        event = audit_event_get(event_id=event_id)
        opened = audit_event_open_sealed(
            event=event, auditor=_auditor(request), reason=payload.validated_data["reason"]
        )
        return Response(self.Output(opened).data)


@extend_schema(tags=["audit"])
class AuditInclusionProofApi(_AuditorView):
    class Input(StrictSerializer):
        tree_size = serializers.IntegerField(min_value=1, required=False,
                                             help_text="a signed tree size; default the latest")

    class Output(serializers.Serializer):
        log_index = serializers.IntegerField()
        tree_size = serializers.IntegerField()
        leaf_hash = serializers.CharField()
        root_hash = serializers.CharField()
        inclusion_proof = serializers.ListField(child=serializers.CharField(),
                                                help_text="RFC 9162 audit path, base64 hashes")
        checkpoint = serializers.CharField(help_text="the signed checkpoint of tree_size")

    @extend_schema(operation_id="audit_inclusion_proof", parameters=[Input],
                   responses={200: Output})
    def get(self, request: Request, event_id: int) -> Response:
        query = self.Input(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        event = audit_event_get(event_id=event_id)
        proof = log_inclusion_proof(event=event, tree_size=query.validated_data.get("tree_size"))
        body = {
            "log_index": proof.log_index,
            "tree_size": proof.tree_size,
            "leaf_hash": b64encode(proof.leaf_hash),
            "root_hash": b64encode(proof.root_hash),
            "inclusion_proof": [b64encode(h) for h in proof.proof],
            "checkpoint": proof.checkpoint,
        }
        return Response(self.Output(body).data)


@extend_schema(tags=["audit"])
class AuditConsistencyProofApi(_AuditorView):
    class Input(StrictSerializer):
        old_size = serializers.IntegerField(min_value=0)
        new_size = serializers.IntegerField(min_value=0, required=False,
                                            help_text="default: the latest signed size")

    class Output(serializers.Serializer):
        old_size = serializers.IntegerField()
        new_size = serializers.IntegerField()
        old_root = serializers.CharField()
        new_root = serializers.CharField()
        consistency_proof = serializers.ListField(child=serializers.CharField())

    @extend_schema(operation_id="audit_consistency_proof", parameters=[Input],
                   responses={200: Output})
    def get(self, request: Request) -> Response:
        query = self.Input(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        proof = log_consistency_proof(
            old_size=query.validated_data["old_size"],
            new_size=query.validated_data.get("new_size"),
        )
        body = {
            "old_size": proof.old_size,
            "new_size": proof.new_size,
            "old_root": b64encode(proof.old_root),
            "new_root": b64encode(proof.new_root),
            "consistency_proof": [b64encode(h) for h in proof.proof],
        }
        return Response(self.Output(body).data)


@extend_schema(tags=["audit"])
class AuditExportApi(_AuditorView):
    class Input(StrictSerializer):
        tree_size = serializers.IntegerField(min_value=0, required=False)

    @extend_schema(
        operation_id="audit_export",
        description=(
            "The log as a tar file in the tlog-tiles layout (see docs/audit-log.md); "
            "verify it offline with `manage.py audit_verify --export FILE` or any tlog client."
        ),
        parameters=[Input],
        responses={(200, "application/x-tar"): OpenApiResponse(OpenApiTypes.BINARY)},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        query = self.Input(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        tree_size = query.validated_data.get("tree_size")
        log_export_check(tree_size=tree_size)
        audit_log_exported(auditor=_auditor(request), tree_size=tree_size)
        response = StreamingHttpResponse(
            log_export_stream(tree_size=tree_size), content_type="application/x-tar",
            status=status.HTTP_200_OK,
        )
        response["Content-Disposition"] = 'attachment; filename="audit-log-export.tar"'
        response["Cache-Control"] = "no-store"
        return response
