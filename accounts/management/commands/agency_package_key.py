from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Agency
from accounts.services import PackageKeyInvalid, agency_package_key_set


class Command(BaseCommand):
    help = (
        "Register the X25519 public key (base64) an agency's disclosure packages are "
        "sealed to. The agency generates the key pair and keeps the private half."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--agency", required=True, help="the agency's name")
        parser.add_argument("--key", required=True, help="base64 of the 32-byte public key")

    def handle(self, *args: Any, **options: Any) -> None:
        agency = Agency.objects.filter(name=options["agency"]).first()
        if agency is None:
            raise CommandError("no agency of that name")
        try:
            agency_package_key_set(agency=agency, public_key_b64=options["key"])
        except PackageKeyInvalid as exc:
            raise CommandError(f"not an X25519 public key: {exc}") from None
        self.stdout.write(f"package key registered for {agency.name}")
