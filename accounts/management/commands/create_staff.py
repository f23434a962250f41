from __future__ import annotations

import getpass
from base64 import b32encode
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.roles import Role
from accounts.services import staff_user_create


class Command(BaseCommand):
    help = "Create a staff member with roles and a TOTP device; prints the TOTP set-up URI."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", required=True)
        parser.add_argument("--roles", required=True,
                            help=f"comma-separated from: {', '.join(r.value for r in Role)}")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            roles = [Role(r.strip()) for r in options["roles"].split(",") if r.strip()]
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("passwords differ")
        try:
            validate_password(password)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        user, device = staff_user_create(
            username=options["username"], email=options["email"], password=password, roles=roles
        )
        secret = b32encode(device.bin_key).decode().rstrip("=")
        self.stdout.write(f"created staff:{user.pk} with roles {', '.join(roles)}")
        self.stdout.write(f"TOTP secret (enrol in an authenticator app): {secret}")
        self.stdout.write(f"TOTP URI: {device.config_url}")
