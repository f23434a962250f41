"""Reads of accounts: who holds which staff role; a platform's webhook endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.contrib.auth.models import User
from django.db.models import QuerySet

from accounts.models import (
    Agency,
    ApiCredential,
    Jurisdiction,
    Platform,
    StaffChange,
    WebhookDelivery,
    WebhookEndpoint,
)
from accounts.roles import Role


class WebhookEndpointNotFound(Exception):
    """No such endpoint for this platform (another platform's is not found either)."""


def user_has_role(user: Any, role: Role) -> bool:
    """Whether `user` is a signed-in staff member holding `role` (never an API key)."""
    # An API key's principal is not a User, so it never holds a staff role.
    if not isinstance(user, User) or not user.is_authenticated:
        return False
    return bool(user.groups.filter(name=str(role)).exists())


def user_is_administrator(user: Any) -> bool:
    """Whether `user` controls accounts: the administrator role or Django's superuser flag
    (which the separation-of-duties rules treat alike; neither is an exemption)."""
    if not isinstance(user, User) or not user.is_authenticated:
        return False
    return user.is_superuser or user_has_role(user, Role.ADMINISTRATOR)


def webhook_endpoint_list_for_platform(*, platform: Platform) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(platform=platform).order_by("created_at", "id")


def webhook_endpoint_get_for_platform(*, platform: Platform, endpoint_id: UUID) -> WebhookEndpoint:
    endpoint = webhook_endpoint_list_for_platform(platform=platform).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise WebhookEndpointNotFound("no such webhook endpoint")
    return endpoint


def webhook_endpoints_for_event(*, platform_id: UUID, event_type: str) -> list[WebhookEndpoint]:
    """The platform's enabled endpoints that take `event_type` (no filter takes every type)."""
    # Filtered here rather than with a JSON `contains` lookup, which SQLite (the demo's
    # database) lacks; a platform has a handful of endpoints.
    enabled = WebhookEndpoint.objects.filter(platform_id=platform_id, is_active=True)
    return [
        endpoint for endpoint in enabled.order_by("created_at", "id")
        if not endpoint.event_types or event_type in endpoint.event_types
    ]


def webhook_delivery_list_for_endpoint(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """Newest first, each with its attempts."""
    return (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .prefetch_related("attempt_log")
        .order_by("-created_at", "-id")
    )


def webhook_signing_secrets(*, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and during a rotation's
    overlap the previous one too."""
    secrets = [endpoint.signing_secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_signing_secret and expires is not None and expires > now:
        secrets.append(endpoint.previous_signing_secret)
    return secrets


def webhook_delivery_trouble() -> dict[str, int]:
    """Deliveries still being retried after a failed attempt, and those given up."""
    pending = WebhookDelivery.objects.filter(delivered_at__isnull=True)
    return {
        "retrying": pending.filter(abandoned_at__isnull=True, attempts__gt=0).count(),
        "abandoned": pending.filter(abandoned_at__isnull=False).count(),
    }


def staff_list() -> QuerySet[User]:
    """Every staff account with its roles, for the administrators' pages."""
    return User.objects.prefetch_related("groups").order_by("username", "id")


def staff_get(*, user_id: int) -> User | None:
    return staff_list().filter(pk=user_id).first()


def staff_change_list_open(*, now: datetime) -> QuerySet[StaffChange]:
    """Proposals still waiting for a second administrator, oldest first."""
    return (StaffChange.objects.filter(state=StaffChange.State.PROPOSED, expires_at__gt=now)
            .select_related("target", "proposed_by").order_by("proposed_at", "id"))


def staff_change_get_open(*, change_id: UUID) -> StaffChange | None:
    return StaffChange.objects.filter(pk=change_id, state=StaffChange.State.PROPOSED).first()


def platform_list() -> QuerySet[Platform]:
    return Platform.objects.order_by("name", "id")


def platform_credentials(*, platform: Platform) -> QuerySet[ApiCredential]:
    """The platform's API keys, newest first (prefixes only: the secrets are not kept)."""
    return ApiCredential.objects.filter(platform=platform).order_by("-created_at", "-id")


def agency_list() -> QuerySet[Agency]:
    return Agency.objects.select_related("jurisdiction").order_by("name", "id")


def jurisdiction_choices() -> list[tuple[str, str]]:
    return [(j.code, f"{j.name} ({j.code})") for j in Jurisdiction.objects.order_by("code")]
