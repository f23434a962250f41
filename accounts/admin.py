from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group, User
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
    # Emergency call-backs go to these contacts: an edit here would be unlogged, so
    # they change only through the audited services (manage.py create_agency).
    readonly_fields = ("jurisdiction", "callback_phone", "callback_email", "package_public_key",
                       "verified_at")

    def has_add_permission(self, request: object) -> bool:
        return False


# Roles and permissions change only through accounts.services.staff_role_set
# (manage.py staff_role), which writes an audit event; the stock forms would not.
admin.site.unregister(Group)
admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    readonly_fields = ("groups", "user_permissions", "is_superuser", "is_staff", "last_login",
                       "date_joined")

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(ApiCredential)
class ApiCredentialAdmin(admin.ModelAdmin):
    # Credentials change only through the audited services (management commands).
    list_display = ("prefix", "platform", "agency", "created_at", "expires_at", "revoked_at")
    readonly_fields = [f.name for f in ApiCredential._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
