from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Platform, WebhookEndpoint, WebhookEventType
from accounts.selectors import (
    WebhookEndpointNotFound,
    webhook_endpoint_get_for_platform,
    webhook_endpoint_list_for_platform,
)
from accounts.services import (
    WebhookEndpointDisabled,
    WebhookEndpointLimitReached,
    WebhookPingPending,
    WebhookUrlRejected,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_ping,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)


class Command(BaseCommand):
    help = "List, add, disable, enable, rotate, ping or delete a platform's webhook endpoints."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--platform", required=True, help="the platform's name")
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list")
        add = sub.add_parser("add")
        add.add_argument("url")
        add.add_argument("--description", default="")
        add.add_argument("--event-types", default="",
                         help=f"comma-separated, of {', '.join(WebhookEventType.values)}; "
                              "default every type")
        for action in ("disable", "enable", "ping", "delete"):
            sub.add_parser(action).add_argument("endpoint_id", type=UUID)
        rotate = sub.add_parser("rotate")
        rotate.add_argument("endpoint_id", type=UUID)
        rotate.add_argument("--overlap-hours", type=float, default=24.0)

    def handle(self, *args: Any, **options: Any) -> None:
        platform = Platform.objects.filter(name=options["platform"]).first()
        if platform is None:
            raise CommandError("no platform with that name")
        action = options["action"]
        try:
            if action == "list":
                self._list(platform)
            elif action == "add":
                self._add(platform, options)
            else:
                self._change(action, webhook_endpoint_get_for_platform(
                    platform=platform, endpoint_id=options["endpoint_id"]), options)
        except (WebhookEndpointNotFound, WebhookUrlRejected, WebhookEndpointLimitReached,
                WebhookEndpointDisabled, WebhookPingPending, ValueError) as exc:
            raise CommandError(str(exc)) from exc

    def _list(self, platform: Platform) -> None:
        for endpoint in webhook_endpoint_list_for_platform(platform=platform):
            state = "enabled" if endpoint.is_active else "disabled"
            types = ",".join(endpoint.event_types) or "all events"
            self.stdout.write(f"{endpoint.id}  {state:8}  {types}  {endpoint.url}")

    def _add(self, platform: Platform, options: dict[str, Any]) -> None:
        issued = webhook_endpoint_create(
            platform=platform, url=options["url"], description=options["description"],
            event_types=[t for t in options["event_types"].split(",") if t],
        )
        self.stdout.write(f"endpoint {issued.endpoint.id}")
        self.stdout.write(f"signing secret (shown once): {issued.signing_secret}")

    def _change(self, action: str, endpoint: WebhookEndpoint, options: dict[str, Any]) -> None:
        if action in ("disable", "enable"):
            webhook_endpoint_update(endpoint=endpoint, is_active=action == "enable")
            self.stdout.write(f"{action}d {endpoint.id}")
        elif action == "rotate":
            hours = options["overlap_hours"]
            issued = webhook_endpoint_rotate_secret(endpoint=endpoint,
                                                    overlap=timedelta(hours=hours))
            self.stdout.write(f"new signing secret (shown once): {issued.signing_secret}")
            self.stdout.write(f"the previous secret keeps signing for {hours} h")
        elif action == "ping":
            delivery = webhook_endpoint_ping(endpoint=endpoint)
            self.stdout.write(f"queued test event {delivery.webhook_id}")
        else:
            webhook_endpoint_delete(endpoint=endpoint)
            self.stdout.write(f"deleted {endpoint.id}")
