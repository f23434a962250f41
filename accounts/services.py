"""Changes to accounts: tenants, agencies, credentials, staff and their sign-in."""

from __future__ import annotations

import base64
import ipaddress
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import AbstractBaseUser, Group, User
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.client_address import client_address
from accounts.models import (
    Agency,
    ApiCredential,
    Jurisdiction,
    Platform,
    StaffToken,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)
from accounts.roles import Role, roles_check
from accounts.secrets import PLATFORM_KEY, STAFF_TOKEN, secret_issue
from accounts.selectors import webhook_endpoints_for_event
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


class AgencyContactInvalid(Exception):
    """A call-back contact that cannot be called or written to; `field` names which."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


# ITU-T E.164: a "+", a country code that does not start with 0, at most 15 digits.
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def agency_callback_phone_check(phone: str) -> str:
    """The number in E.164 form; spaces, dots, hyphens and brackets people type are
    dropped. Emergency call-backs go to this number, so a typo must not be stored."""
    compact = re.sub(r"[\s.()-]", "", phone)
    if not _E164.fullmatch(compact):
        raise AgencyContactInvalid(
            "the call-back number must be in international form: + then country code and "
            "number, at most 15 digits (e.g. +442079460000)", field="callback_phone")
    return compact


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
    try:
        validate_email(callback_email)
    except ValidationError:
        raise AgencyContactInvalid("the call-back email address is not valid",
                                   field="callback_email") from None
    agency = Agency.objects.create(
        name=name,
        jurisdiction=jurisdiction,
        callback_phone=agency_callback_phone_check(callback_phone),
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
    roles_check(roles)
    user = User.objects.create_user(username=username, email=email, password=None)
    # Set directly, not with set_password: accounts/passwords.py logs a password set
    # outside the audited services, and this is one of them.
    user.password = make_password(password)
    user.is_staff = Role.ADMINISTRATOR in roles
    user.save(update_fields=["password", "is_staff"])
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
        User.objects.select_for_update().get(pk=user.pk)  # one role change at a time
        held = set(user.groups.values_list("name", flat=True)) | {str(role)}
        roles_check(held, superuser=user.is_superuser)
        user.groups.add(group)
    else:
        user.groups.remove(group)
    if role == Role.ADMINISTRATOR:
        User.objects.filter(pk=user.pk).update(is_staff=granted)  # the read-only admin site
    event_record(
        event_type="staff.role_granted" if granted else "staff.role_revoked",
        actor=actor or Actor.system("operator"),
        object_ref=f"staff:{user.pk}",
        details={"role": str(role)},
    )


def _totp_device_verified(user: AbstractBaseUser, code: str) -> TOTPDevice | None:
    """The user's confirmed device that accepts `code`, or None."""
    code = code.strip()
    if not code.isdigit():
        return None
    for device in TOTPDevice.objects.filter(user=user, confirmed=True):
        # verify_token enforces one use per time step, so a replayed code fails.
        if device.verify_token(code):
            return device
    return None


def _totp_verify(user: AbstractBaseUser, code: str) -> bool:
    return _totp_device_verified(user, code) is not None


def _locked_out(*, username: str, request: HttpRequest) -> SignInLockedOut:
    sign_in_refusal_record(username=username)
    retry_after = lockout_retry_after(username=username, address=client_address(request))
    return SignInLockedOut("too many failed sign-ins; try again later", retry_after=retry_after)


def _sign_in_failure(
    *, username: str, request: HttpRequest, password_ok: bool
) -> SignInFailed | SignInLockedOut:
    """Count a failed attempt as django-axes and the log see it; the exception to raise."""
    if password_ok:
        # django-axes counts what authenticate() saw fail; a right password with a
        # wrong one-time code is a failure too, or the code could be guessed freely.
        user_login_failed.send(
            sender=__name__, credentials={"username": username}, request=request
        )
    elif getattr(request, "axes_failures_since_start", None) is None and getattr(
        request, "axes_locked_out", False
    ):
        # Locked out between the check and authenticate(): not recorded.
        return _locked_out(username=username, request=request)
    sign_in_failure_record(request=request, username=username)
    return SignInFailed("sign-in failed")


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
        raise _sign_in_failure(username=username, request=request, password_ok=user is not None)
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


# --- Console sessions: sign-in, second-factor enrolment, step-up --------------------
# The console signs staff in to a browser session rather than issuing a token, under the
# same limits and the same log events as the API's sign-in (accounts/sign_in_limits.py).


class SecondFactorAlreadyEnrolled(Exception):
    """The staff member already has a confirmed second factor; enrolment is closed."""


class StepUpFailed(Exception):
    """The one-time code given to confirm an action was wrong or already used."""


@dataclass(frozen=True)
class ConsoleSignIn:
    user: User
    # The device that checked the code; None for a staff member who has none yet and
    # must enrol one before the session is signed in.
    device: TOTPDevice | None


def _staff_event(event_type: str, user: User, **details: Any) -> None:
    event_record(
        event_type=event_type,
        actor=Actor.for_staff(user.pk, _primary_role(user)),
        object_ref=f"staff:{user.pk}",
        details=details,
    )


def staff_console_sign_in(
    *, username: str, password: str, otp_code: str, request: HttpRequest
) -> ConsoleSignIn:
    """Password plus TOTP for a console session, counted and logged as the API's sign-in.

    Someone with no confirmed device yet passes on the password alone, with `device`
    None: the caller may then only enrol a device (staff_totp_enrolment_confirm), which
    is what signs them in.
    """
    if not sign_in_allowed(request=request, username=username):
        raise _locked_out(username=username, request=request)
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active or not isinstance(user, User):
        raise _sign_in_failure(username=username, request=request, password_ok=user is not None)
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return ConsoleSignIn(user=user, device=None)
    device = _totp_device_verified(user, otp_code)
    if device is None:
        raise _sign_in_failure(username=username, request=request, password_ok=True)
    with transaction.atomic():
        _staff_event("staff.signed_in", user, channel="console")
    return ConsoleSignIn(user=user, device=device)


@transaction.atomic
def staff_totp_enrolment_start(*, user: User) -> TOTPDevice:
    """A new unconfirmed TOTP device for someone who has no confirmed one."""
    User.objects.select_for_update().get(pk=user.pk)
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise SecondFactorAlreadyEnrolled("a second factor is already set up")
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="console", confirmed=False)


def staff_totp_enrolment_confirm(
    *, user: User, device: TOTPDevice, otp_code: str, request: HttpRequest
) -> TOTPDevice:
    """Confirm the device with a code it generated; logged as enrolment and sign-in.

    A wrong code counts as a failed sign-in, under the same limits.
    """
    username = user.get_username()
    if not sign_in_allowed(request=request, username=username):
        raise _locked_out(username=username, request=request)
    with transaction.atomic():
        User.objects.select_for_update().get(pk=user.pk)
        if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            raise SecondFactorAlreadyEnrolled("a second factor is already set up")
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
        code = otp_code.strip()
        if code.isdigit() and locked.verify_token(code):
            locked.confirmed = True
            locked.save(update_fields=["confirmed"])
            _staff_event("staff.second_factor_enrolled", user, kind="totp")
            _staff_event("staff.signed_in", user, channel="console")
            return locked
    raise _sign_in_failure(username=username, request=request, password_ok=True)


def staff_step_up(
    *, user: User, otp_code: str, action: str, object_ref: str, request: HttpRequest
) -> TOTPDevice:
    """Re-check a signed-in staff member's second factor before one action.

    The code is good for this action only: a TOTP code is accepted once. A wrong code
    counts as a failed sign-in, so a left-open session cannot be used to guess codes.
    """
    username = user.get_username()
    if not sign_in_allowed(request=request, username=username):
        raise _locked_out(username=username, request=request)
    device = _totp_device_verified(user, otp_code)
    if device is None:
        _sign_in_failure(username=username, request=request, password_ok=True)  # counted
        raise StepUpFailed("the one-time code was wrong or already used")
    with transaction.atomic():
        event_record(
            event_type="staff.stepped_up",
            actor=Actor.for_staff(user.pk, _primary_role(user)),
            object_ref=object_ref,
            details={"action": action},
        )
    return device


@transaction.atomic
def staff_console_sign_out(*, user: User) -> None:
    _staff_event("staff.signed_out", user, channel="console")


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


# --- Webhook endpoints ----------------------------------------------------------------
# A platform registers where it receives signed events; the secret that signs them is
# shown once (at creation and at each rotation). Deliveries are sent by
# legal_requests.services.webhooks, which owns the retry scan.

WEBHOOK_ENDPOINTS_PER_PLATFORM = 20
WEBHOOK_ROTATION_OVERLAP_MAX = timedelta(days=7)


class WebhookUrlRejected(Exception):
    """The URL is not one the service will post signed events to."""


class WebhookEndpointLimitReached(Exception):
    """The platform already has as many endpoints as it may."""


class WebhookPingPending(Exception):
    """The endpoint's previous test event has not been delivered or abandoned yet."""


class WebhookEndpointDisabled(Exception):
    """The endpoint is disabled: nothing is sent to it, a test event included."""


@dataclass(frozen=True, repr=False)
class IssuedWebhookEndpoint:
    endpoint: WebhookEndpoint
    signing_secret: str  # shown once


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    return address


def _loopback_host(host: str) -> bool:
    address = _address(host)
    return host == "localhost" or (address is not None and address.is_loopback)


def webhook_url_check(url: str) -> str:
    """The URL if the service may post to it; messages never repeat the URL (it may hold
    a token)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        raise WebhookUrlRejected("the URL is malformed") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise WebhookUrlRejected("the URL must be absolute, https://host/path")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlRejected("the URL must not carry credentials; "
                                 "verify the webhook-signature header instead")
    if parts.fragment:
        raise WebhookUrlRejected("the URL must not have a fragment")
    loopback_allowed = bool(getattr(settings, "WEBHOOK_ALLOW_HTTP_LOOPBACK", False))
    if _loopback_host(host):
        if not loopback_allowed:
            raise WebhookUrlRejected("the URL must not point at this machine")
        return url
    if parts.scheme != "https":
        raise WebhookUrlRejected("the URL must use https")
    address = _address(host)
    # An address inside the service's own network would let a platform make the service
    # post to internal hosts (server-side request forgery). A name whose last label is a
    # number is an address in disguise (the resolver reads 2130706433 and 0x7f.1 as
    # 127.0.0.1); no top-level domain is numeric (RFC 3696 s2).
    numeric_tld = re.fullmatch(r"0x[0-9a-f]*|[0-9]+", host.rsplit(".", 1)[-1])
    if (address is not None and not address.is_global) or (address is None and numeric_tld):
        raise WebhookUrlRejected("the URL must point at a public address")
    return url


def webhook_address_allowed(address: str) -> bool:
    """Whether a delivery may connect to `address`, an IP address a webhook endpoint's
    name resolved to: a public one, or loopback where WEBHOOK_ALLOW_HTTP_LOOPBACK allows
    it (the demo). `webhook_url_check` judges the URL; this, each address at delivery."""
    parsed = _address(address.split("%", 1)[0])  # an IPv6 zone is no part of the address
    if parsed is None:
        return False
    if parsed.is_loopback:
        return bool(getattr(settings, "WEBHOOK_ALLOW_HTTP_LOOPBACK", False))
    return parsed.is_global


def _webhook_secret_new() -> str:
    # Standard Webhooks: "whsec_" + base64 of 24 to 64 random bytes.
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _webhook_event_types_check(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - set(WebhookEventType.values))
    if unknown:
        raise ValueError(f"unknown event types: {unknown}")
    return sorted(set(event_types))


def _webhook_event(event_type: str, endpoint: WebhookEndpoint, actor: Actor | None,
                   **details: Any) -> None:
    # The host only: a URL's path or query may hold the platform's own token.
    event_record(
        event_type=event_type,
        actor=actor or Actor.system("operator"),
        object_ref=f"webhook_endpoint:{endpoint.id}",
        platform_id=endpoint.platform_id,
        details={"host": urlsplit(endpoint.url).hostname or "", **details},
    )


@transaction.atomic
def webhook_endpoint_create(
    *, platform: Platform, url: str, description: str = "",
    event_types: list[str] | None = None, actor: Actor | None = None,
) -> IssuedWebhookEndpoint:
    # Locking the platform row serialises creations, so the cap holds under concurrency.
    Platform.objects.select_for_update().get(pk=platform.pk)
    if WebhookEndpoint.objects.filter(platform=platform).count() >= WEBHOOK_ENDPOINTS_PER_PLATFORM:
        raise WebhookEndpointLimitReached(
            f"a platform may register at most {WEBHOOK_ENDPOINTS_PER_PLATFORM} endpoints"
        )
    secret = _webhook_secret_new()
    endpoint = WebhookEndpoint.objects.create(
        platform=platform, url=webhook_url_check(url), description=description,
        event_types=_webhook_event_types_check(event_types or []), signing_secret=secret,
    )
    _webhook_event("webhook_endpoint.created", endpoint, actor,
                   event_types=endpoint.event_types)
    return IssuedWebhookEndpoint(endpoint=endpoint, signing_secret=secret)


@transaction.atomic
def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, url: str | None = None, description: str | None = None,
    event_types: list[str] | None = None, is_active: bool | None = None,
    actor: Actor | None = None,
) -> WebhookEndpoint:
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    changes: dict[str, Any] = {}
    if url is not None and url != locked.url:
        changes["url"] = webhook_url_check(url)
    if description is not None and description != locked.description:
        changes["description"] = description
    if event_types is not None:
        checked = _webhook_event_types_check(event_types)
        if checked != locked.event_types:
            changes["event_types"] = checked
    if is_active is not None and is_active != locked.is_active:
        changes["is_active"] = is_active
    if changes:
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save(update_fields=list(changes))
        _webhook_event("webhook_endpoint.updated", locked, actor, changed=sorted(changes),
                       is_active=locked.is_active)
    return locked


def webhook_delivery_outcome_record(
    *, delivery: WebhookDelivery, delivered: bool, attempts: int, actor: Actor,
    **details: Any,
) -> None:
    """The audit event that ends a delivery of record: `webhook.delivered`, or
    `webhook.abandoned` (its last attempt failed, or its endpoint was deleted)."""
    event_record(
        event_type="webhook.delivered" if delivered else "webhook.abandoned",
        actor=actor,
        object_ref=f"webhook_delivery:{delivery.id}",
        platform_id=delivery.endpoint.platform_id,
        details={"event": delivery.event_type, "subject": delivery.subject_ref,
                 "attempts": attempts, "endpoint": str(delivery.endpoint_id), **details},
    )


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: Actor | None = None) -> None:
    """Delete the endpoint and its delivery history; the audit log keeps its events.

    Each notice of record it still owed is abandoned with it, in the log as a
    `webhook.abandoned` event like any other abandonment, so the log shows what the
    platform will not be told (a test event is not of record).
    """
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    owed = list(
        locked.deliveries.filter(delivered_at__isnull=True, abandoned_at__isnull=True)
        .exclude(event_type=WebhookEventType.TEST).order_by("created_at", "id")
    )
    for delivery in owed:
        webhook_delivery_outcome_record(
            delivery=delivery, delivered=False, attempts=delivery.attempts,
            actor=actor or Actor.system("operator"), reason="endpoint deleted",
        )
    _webhook_event("webhook_endpoint.deleted", locked, actor, abandoned_deliveries=len(owed))
    locked.delete()


@transaction.atomic
def webhook_endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, overlap: timedelta, actor: Actor | None = None,
) -> IssuedWebhookEndpoint:
    """A new signing secret; the old one keeps signing beside it for `overlap`.

    Rotating again within an overlap drops the oldest secret at once: only the secret
    being replaced is kept.
    """
    if not timedelta(0) <= overlap <= WEBHOOK_ROTATION_OVERLAP_MAX:
        raise ValueError("the overlap must be between 0 and 7 days")
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = _webhook_secret_new()
    if overlap:
        locked.previous_signing_secret = locked.signing_secret
        locked.previous_secret_expires_at = timezone.now() + overlap
    else:
        locked.previous_signing_secret = ""
        locked.previous_secret_expires_at = None
    locked.signing_secret = secret
    locked.save(update_fields=["signing_secret", "previous_signing_secret",
                               "previous_secret_expires_at"])
    _webhook_event("webhook_endpoint.secret_rotated", locked, actor,
                   overlap_seconds=int(overlap.total_seconds()))
    return IssuedWebhookEndpoint(endpoint=locked, signing_secret=secret)


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def webhook_event_enqueue(
    *, platform_id: uuid.UUID, event_type: WebhookEventType, subject_ref: str,
    data: dict[str, Any], due_at: datetime | None = None,
) -> int:
    """Owe `event_type` to each of the platform's enabled endpoints that take it.

    Call inside the transaction that makes the change the event reports, so the notice
    exists exactly when the change does; the delivery scan sends it after commit.
    Enqueueing the same event about the same subject twice creates nothing new.
    """
    now = timezone.now()
    created = 0
    for endpoint in webhook_endpoints_for_event(platform_id=platform_id,
                                                event_type=event_type):
        _, was_created = WebhookDelivery.objects.get_or_create(
            dedupe_key=f"{event_type}:{subject_ref}:{endpoint.pk}",
            defaults={
                "endpoint": endpoint, "event_type": str(event_type), "subject_ref": subject_ref,
                # Standard Webhooks payload shape: type, timestamp, data.
                "payload": {"type": str(event_type), "timestamp": _rfc3339(now), "data": data},
                "due_at": due_at or now,
            },
        )
        created += was_created
    return created


@transaction.atomic
def webhook_endpoint_ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a `webhook.test` event, due now; the delivery scan sends it like any other.

    Not an audit event (it changes nothing), and one at a time per endpoint, so a loop
    of pings cannot grow the delivery table faster than the scan drains it.
    """
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if not locked.is_active:
        raise WebhookEndpointDisabled("the endpoint is disabled; enable it to test it")
    if locked.deliveries.filter(
        event_type=WebhookEventType.TEST, delivered_at__isnull=True, abandoned_at__isnull=True
    ).exists():
        raise WebhookPingPending("a test event for this endpoint is still being delivered")
    now = timezone.now()
    delivery_id = uuid.uuid4()
    delivery = WebhookDelivery.objects.create(
        id=delivery_id,
        endpoint=locked,
        event_type=WebhookEventType.TEST,
        subject_ref=f"webhook_endpoint:{locked.id}",
        dedupe_key=f"{WebhookEventType.TEST}:{delivery_id}",
        payload={
            "type": str(WebhookEventType.TEST),
            "timestamp": _rfc3339(now),
            "data": {"endpoint_id": str(locked.id)},
        },
        due_at=now,
    )
    return delivery
