from django.contrib import admin
from django_otp.admin import OTPAdminSite

from accounts.models import Agency, ApiCredential, Jurisdiction, Platform

# Staff sign in to the console with a password and a TOTP code, never a password alone.
admin.site.__class__ = OTPAdminSite
admin.site.site_header = "Identity escrow console"


@admin.register(Platform)
class PlatformAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active", "created_at")


@admin.register(Jurisdiction)
class JurisdictionAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "is_enabled")


@admin.register(Agency)
class AgencyAdmin(admin.ModelAdmin):
    list_display = ("name", "jurisdiction", "verified_at", "is_active")


@admin.register(ApiCredential)
class ApiCredentialAdmin(admin.ModelAdmin):
    # Credentials change only through the audited services (management commands).
    list_display = ("prefix", "platform", "agency", "created_at", "expires_at", "revoked_at")
    readonly_fields = [f.name for f in ApiCredential._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
