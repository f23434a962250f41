"""Console pages: legal bases are configuration; requests and holds change only via services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from escrow.vault.models import LegalHold
from legal_requests.models import DisclosureRequest, LegalBasis, OutgoingMail


@admin.register(LegalBasis)
class LegalBasisAdmin(admin.ModelAdmin):
    list_display = ("code", "jurisdiction", "name", "approvals_required", "is_emergency",
                    "is_enabled")
    list_filter = ("jurisdiction", "is_emergency", "is_enabled")
    search_fields = ("code", "name")


class _ReadOnlyAdmin(admin.ModelAdmin):
    """Every change goes through an audited service, never a console form."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DisclosureRequest)
class DisclosureRequestAdmin(_ReadOnlyAdmin):
    list_display = ("reference", "state", "agency", "legal_basis", "is_emergency", "expires_at",
                    "created_at")
    list_filter = ("state", "is_emergency", "legal_basis")
    search_fields = ("reference",)
    # The sealed document and the officer's details stay out of list pages.
    exclude = ("document_sealed",)


@admin.register(LegalHold)
class LegalHoldAdmin(_ReadOnlyAdmin):
    list_display = ("id", "agency", "placed_at", "expires_at", "extended", "lifted_at")


@admin.register(OutgoingMail)
class OutgoingMailAdmin(_ReadOnlyAdmin):
    """The mail outbox: what is pending, sent, cancelled or dead-lettered, and why."""

    list_display = ("kind", "request", "state", "attempts", "last_error", "next_attempt_at",
                    "created_at", "finished_at")
    list_filter = ("state", "kind")
    search_fields = ("request__reference",)
    # The sealed download secret never appears, not even sealed.
    exclude = ("secret_sealed",)
