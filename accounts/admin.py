"""The Django admin: a read-only view for administrators who signed in with a second factor.

Nothing is edited here, for every model and whoever is signed in (the superuser flag
included): the stock forms would change users, roles, second-factor devices, legal
bases or workflow records without an audit event and without a second administrator.
Changes go through the audited services (the console's Administration pages and the
management commands; accounts/services_staff.py). Second-factor devices are not shown
at all: a TOTP device's page would show the secret that generates an approver's codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group, User
from django.db.models.base import ModelBase
from django.http import HttpRequest
from django_otp.admin import OTPAdminSite

from accounts.models import (
    Agency,
    ApiCredential,
    Jurisdiction,
    Platform,
    StaffChange,
    StaffMail,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from accounts.selectors import user_is_administrator

# django-otp's device models (and any plugin's): never listed, never editable.
_HIDDEN_APP_LABELS = frozenset({"django_otp", "otp_totp", "otp_static", "otp_hotp",
                                "otp_email", "otp_webauthn"})


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EscrowAdminSite(OTPAdminSite):
    """django-otp's site (a password alone does not sign in), for administrators only,
    where every registered model is read-only whoever registers it."""

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        models: Iterable[Any] = (
            [model_or_iterable] if isinstance(model_or_iterable, ModelBase)
            else model_or_iterable
        )
        base = admin_class or admin.ModelAdmin
        read_only = type(f"ReadOnly{base.__name__}", (_ReadOnly, base),
                         {"__module__": base.__module__})
        for model in models:
            if model._meta.app_label not in _HIDDEN_APP_LABELS:
                super().register(model, read_only, **options)

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and user_is_administrator(request.user)


admin.site.__class__ = EscrowAdminSite
admin.site.site_header = "Identity escrow console: read-only administration"
# Apps listed before this one registered with the stock site: register them again,
# read-only (and drop the device models).
for _model, _model_admin in list(admin.site._registry.items()):
    admin.site.unregister(_model)
    admin.site.register(_model, type(_model_admin))


@admin.register(Platform)
class PlatformAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active", "created_at")


@admin.register(Jurisdiction)
class JurisdictionAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "is_enabled")


@admin.register(Agency)
class AgencyAdmin(admin.ModelAdmin):
    list_display = ("name", "jurisdiction", "verified_at", "is_active")
    # Emergency call-backs go to these contacts: an edit here would be unlogged, so
    # they change only through the audited services (manage.py create_agency).
    readonly_fields = ("jurisdiction", "callback_phone", "callback_email", "package_public_key",
                       "verified_at")


# Roles, passwords and second factors change only through accounts/services_staff.py
# (the console's Staff pages, two administrators for a reset), which write audit events.
admin.site.unregister(Group)
admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    list_display = ("username", "is_active", "is_staff", "last_login")
    readonly_fields = ("groups", "user_permissions", "is_superuser", "is_staff", "last_login",
                       "date_joined")


@admin.register(ApiCredential)
class ApiCredentialAdmin(admin.ModelAdmin):
    # Credentials change only through the audited services (management commands).
    list_display = ("prefix", "platform", "agency", "created_at", "expires_at", "revoked_at")
    readonly_fields = [f.name for f in ApiCredential._meta.fields]


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("attempted_at", "status_code", "error", "duration_ms", "succeeded")
    readonly_fields = fields
    extra = 0
    can_delete = False


# Read-only: endpoints change only through the audited services (the platform's API or
# manage.py webhook_endpoint), and the signing secrets are never shown again.
@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("id", "platform", "url", "is_active", "created_at")
    list_filter = ("is_active",)
    fields = ("id", "platform", "url", "description", "event_types", "is_active",
              "previous_secret_expires_at", "created_at")
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "endpoint", "event_type", "attempts", "last_status_code", "due_at",
                    "delivered_at", "abandoned_at")
    list_filter = ("event_type",)
    fields = ("id", "endpoint", "event_type", "subject_ref", "created_at", "due_at",
              "attempts", "last_status_code", "last_error", "delivered_at", "abandoned_at")
    readonly_fields = fields
    inlines = [WebhookAttemptInline]


@admin.register(StaffChange)
class StaffChangeAdmin(admin.ModelAdmin):
    list_display = ("kind", "role", "target", "state", "proposed_by", "proposed_at",
                    "decided_by", "decided_at")
    list_filter = ("state", "kind")


@admin.register(StaffMail)
class StaffMailAdmin(admin.ModelAdmin):
    """The staff outbox: pending, sent or given up, and why (never the sealed secret)."""

    list_display = ("kind", "user", "state", "attempts", "last_error", "next_attempt_at")
    list_filter = ("state", "kind")
    exclude = ("secret_sealed",)
