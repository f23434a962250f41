from django.contrib import admin

from escrow.log.models import AuditEvent
from escrow.vault.models import EscrowKey


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("id", "event_type", "occurred_at", "actor_kind", "actor_ref", "object_ref")
    list_filter = ("event_type", "actor_kind")
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(EscrowKey)
class EscrowKeyAdmin(admin.ModelAdmin):
    list_display = ("epoch", "threshold", "custodian_count", "is_active", "created_at")
    readonly_fields = [f.name for f in EscrowKey._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
