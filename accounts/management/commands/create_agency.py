from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.services import AgencyContactInvalid, agency_create, credential_create


class Command(BaseCommand):
    help = "Register a verified requesting agency and print its first API key, once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--jurisdiction", required=True, help="e.g. GB-EAW, US")
        parser.add_argument("--callback-phone", required=True)
        parser.add_argument("--callback-email", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            agency = agency_create(
                name=options["name"],
                jurisdiction_code=options["jurisdiction"],
                callback_phone=options["callback_phone"],
                callback_email=options["callback_email"],
            )
        except AgencyContactInvalid as exc:
            raise CommandError(str(exc)) from None
        issued = credential_create(agency=agency, label="initial")
        self.stdout.write(f"agency id: {agency.id}")
        self.stdout.write(f"API key (shown once): {issued.api_key}")
