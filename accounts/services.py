"""Changes to accounts: tenants, agencies, credentials, staff and their sign-in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser, Group, User
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.client_address import client_address
from accounts.models import Agency, ApiCredential, Jurisdiction, Platform, StaffToken
from accounts.roles import Role
from accounts.secrets import PLATFORM_KEY, STAFF_TOKEN, secret_issue
from accounts.sign_in_limits import (
    lockout_retry_after,
    sign_in_allowed,
    sign_in_failure_record,
    sign_in_refusal_record,
)
from escrow.log.events import Actor, event_record

DEFAULT_PLATFORM_SCOPES = [
    ApiCredential.Scope.ENROLMENTS_WRITE,
    ApiCredential.Scope.ENROLMENTS_READ,
]
DEFAULT_AGENCY_SCOPES = [ApiCredential.Scope.DISCLOSURES]


class SignInFailed(Exception):
    """Wrong username, password or one-time code; deliberately not saying which."""


class SignInLockedOut(Exception):
    """Too many failed sign-ins for this username or from this address: refused unheard."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CredentialRevoked(Exception):
    """The credential is already revoked."""


@dataclass(frozen=True, repr=False)
class IssuedCredential:
    credential: ApiCredential
    api_key: str  # shown once


@dataclass(frozen=True, repr=False)
class IssuedStaffToken:
    token: StaffToken
    secret: str


@transaction.atomic
def platform_create(*, name: str, actor: Actor | None = None) -> Platform:
    platform = Platform.objects.create(name=name)
    event_record(
        event_type="platform.created",
        actor=actor or Actor.system("operator"),
        object_ref=f"platform:{platform.id}",
        platform_id=platform.id,
    )
    return platform


@transaction.atomic
def agency_create(
    *,
    name: str,
    jurisdiction_code: str,
    callback_phone: str,
    callback_email: str,
    package_public_key: str = "",
    actor: Actor | None = None,
) -> Agency:
    jurisdiction = Jurisdiction.objects.get(code=jurisdiction_code)
    agency = Agency.objects.create(
        name=name,
        jurisdiction=jurisdiction,
        callback_phone=callback_phone,
        callback_email=callback_email,
        package_public_key=package_public_key,
        verified_at=timezone.now(),
    )
    event_record(
        event_type="agency.created",
        actor=actor or Actor.system("operator"),
        object_ref=f"agency:{agency.id}",
        details={"jurisdiction": jurisdiction.code},
    )
    return agency


def _credential_owner_ref(credential: ApiCredential) -> tuple[str, Any]:
    if credential.platform_id is not None:
        return f"platform:{credential.platform_id}", credential.platform_id
    return f"agency:{credential.agency_id}", None


@transaction.atomic
def credential_create(
    *,
    platform: Platform | None = None,
    agency: Agency | None = None,
    label: str = "",
    scopes: list[str] | None = None,
    actor: Actor | None = None,
) -> IssuedCredential:
    if (platform is None) == (agency is None):
        raise ValueError("a credential belongs to exactly one platform or agency")
    if scopes is None:
        scopes = list(DEFAULT_PLATFORM_SCOPES if platform else DEFAULT_AGENCY_SCOPES)
    unknown = set(scopes) - set(ApiCredential.Scope.values)
    if unknown:
        raise ValueError(f"unknown scopes: {sorted(unknown)}")
    issued = secret_issue(PLATFORM_KEY)
    credential = ApiCredential.objects.create(
        prefix=issued.prefix,
        key_hash=issued.digest,
        platform=platform,
        agency=agency,
        label=label,
        scopes=[str(s) for s in scopes],
    )
    owner_ref, platform_id = _credential_owner_ref(credential)
    event_record(
        event_type="credential.created",
        actor=actor or Actor.system("operator"),
        object_ref=f"credential:{credential.prefix}",
        platform_id=platform_id,
        details={"owner": owner_ref, "scopes": credential.scopes},
    )
    return IssuedCredential(credential=credential, api_key=issued.token)


@transaction.atomic
def credential_revoke(*, credential: ApiCredential, actor: Actor | None = None) -> ApiCredential:
    locked = ApiCredential.objects.select_for_update().get(pk=credential.pk)
    if locked.revoked_at is not None:
        raise CredentialRevoked("credential already revoked")
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    owner_ref, platform_id = _credential_owner_ref(locked)
    event_record(
        event_type="credential.revoked",
        actor=actor or Actor.system("operator"),
        object_ref=f"credential:{locked.prefix}",
        platform_id=platform_id,
        details={"owner": owner_ref},
    )
    return locked


@transaction.atomic
def credential_rotate(
    *, credential: ApiCredential, overlap: timedelta, actor: Actor | None = None
) -> IssuedCredential:
    """Issue a successor with the same owner and scopes; the old key lapses after `overlap`."""
    locked = ApiCredential.objects.select_for_update().get(pk=credential.pk)
    if locked.revoked_at is not None:
        raise CredentialRevoked("a revoked credential cannot be rotated")
    lapse = timezone.now() + overlap
    if locked.expires_at is None or locked.expires_at > lapse:
        locked.expires_at = lapse
        locked.save(update_fields=["expires_at"])
    successor = credential_create(
        platform=locked.platform,
        agency=locked.agency,
        label=locked.label,
        scopes=list(locked.scopes),
        actor=actor,
    )
    owner_ref, platform_id = _credential_owner_ref(locked)
    event_record(
        event_type="credential.rotated",
        actor=actor or Actor.system("operator"),
        object_ref=f"credential:{locked.prefix}",
        platform_id=platform_id,
        details={"owner": owner_ref, "successor": successor.credential.prefix},
    )
    return successor


def _primary_role(user: User) -> str:
    names = sorted(user.groups.values_list("name", flat=True))
    return ",".join(names)


@transaction.atomic
def staff_user_create(
    *, username: str, email: str, password: str, roles: list[Role], actor: Actor | None = None
) -> tuple[User, TOTPDevice]:
    """Create a staff member with roles and a confirmed TOTP device (second factor)."""
    user = User.objects.create_user(username=username, email=email, password=password)
    user.is_staff = Role.ADMINISTRATOR in roles
    user.save(update_fields=["is_staff"])
    for role in roles:
        group, _ = Group.objects.get_or_create(name=str(role))
        user.groups.add(group)
    device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    event_record(
        event_type="staff.created",
        actor=actor or Actor.system("operator"),
        object_ref=f"staff:{user.pk}",
        details={"roles": sorted(str(r) for r in roles)},
    )
    return user, device


@transaction.atomic
def staff_role_set(
    *, user: User, role: Role, granted: bool, actor: Actor | None = None
) -> None:
    group, _ = Group.objects.get_or_create(name=str(role))
    if granted:
        user.groups.add(group)
    else:
        user.groups.remove(group)
    event_record(
        event_type="staff.role_granted" if granted else "staff.role_revoked",
        actor=actor or Actor.system("operator"),
        object_ref=f"staff:{user.pk}",
        details={"role": str(role)},
    )


def _totp_verify(user: AbstractBaseUser, code: str) -> bool:
    code = code.strip()
    if not code.isdigit():
        return False
    for device in TOTPDevice.objects.filter(user=user, confirmed=True):
        # verify_token enforces one use per time step, so a replayed code fails.
        if device.verify_token(code):
            return True
    return False


def _locked_out(*, username: str, request: HttpRequest) -> SignInLockedOut:
    sign_in_refusal_record(username=username)
    retry_after = lockout_retry_after(username=username, address=client_address(request))
    return SignInLockedOut("too many failed sign-ins; try again later", retry_after=retry_after)


def staff_sign_in(
    *, username: str, password: str, otp_code: str, request: HttpRequest | None = None
) -> IssuedStaffToken:
    """Password plus TOTP, then a short-lived personal token.

    Limited per username and per client address (accounts/sign_in_limits.py): while
    either is locked out the attempt is refused before the password is checked. Every
    success is logged; failures are logged in bounded form. `request` is the HTTP
    request the attempt came in (its client address counts); in-process callers
    (commands, tests) have none.
    """
    if request is None:
        request = HttpRequest()  # no network client: counted per username only
    if not sign_in_allowed(request=request, username=username):
        raise _locked_out(username=username, request=request)
    user = authenticate(request, username=username, password=password)
    ok = user is not None and user.is_active and _totp_verify(user, otp_code)
    if not ok or user is None:
        if user is not None:
            # django-axes counts what authenticate() saw fail; a right password with a
            # wrong one-time code is a failure too, or the code could be guessed freely.
            user_login_failed.send(
                sender=__name__, credentials={"username": username}, request=request
            )
        elif getattr(request, "axes_failures_since_start", None) is None and getattr(
            request, "axes_locked_out", False
        ):
            # Locked out between the check above and authenticate(): not recorded.
            raise _locked_out(username=username, request=request)
        sign_in_failure_record(request=request, username=username)
        raise SignInFailed("sign-in failed")
    with transaction.atomic():
        issued = secret_issue(STAFF_TOKEN)
        token = StaffToken.objects.create(
            prefix=issued.prefix,
            key_hash=issued.digest,
            user=user,
            expires_at=timezone.now() + timedelta(seconds=settings.STAFF_TOKEN_TTL_SECONDS),
        )
        event_record(
            event_type="staff.signed_in",
            actor=Actor.for_staff(user.pk, _primary_role(user)),  # type: ignore[arg-type]
            object_ref=f"staff_token:{token.prefix}",
        )
    return IssuedStaffToken(token=token, secret=issued.token)


@transaction.atomic
def staff_token_revoke(*, token: StaffToken) -> None:
    updated = StaffToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if updated:
        event_record(
            event_type="staff.token_revoked",
            actor=Actor.for_staff(token.user_id),
            object_ref=f"staff_token:{token.prefix}",
        )


class PackageKeyInvalid(Exception):
    """The agency package key is not a base64 X25519 public key."""


@transaction.atomic
def agency_package_key_set(
    *, agency: Agency, public_key_b64: str, actor: Actor | None = None
) -> Agency:
    """Register (or replace) the X25519 key disclosure packages are sealed to."""
    import hashlib

    from escrow.crypto.package import PackageKeyError, recipient_key_parse

    try:
        raw = recipient_key_parse(public_key_b64)
    except PackageKeyError as exc:
        raise PackageKeyInvalid(str(exc)) from exc
    locked = Agency.objects.select_for_update().get(pk=agency.pk)
    locked.package_public_key = public_key_b64.strip()
    locked.save(update_fields=["package_public_key"])
    event_record(
        event_type="agency.package_key_set",
        actor=actor or Actor.system("operator"),
        object_ref=f"agency:{locked.id}",
        details={"key_sha256": hashlib.sha256(raw).hexdigest()},
    )
    return locked
