from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.services import credential_create, platform_create


class Command(BaseCommand):
    help = "Create a platform (tenant) and print its first API key, once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        platform = platform_create(name=options["name"])
        issued = credential_create(platform=platform, label="initial")
        self.stdout.write(f"platform id: {platform.id}")
        self.stdout.write(f"API key (shown once): {issued.api_key}")
