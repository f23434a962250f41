from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from accounts.roles import Role
from accounts.services import staff_role_set


class Command(BaseCommand):
    help = "Grant or revoke a staff role; every change is an audit event."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["grant", "revoke"])
        parser.add_argument("username")
        parser.add_argument("role", choices=[r.value for r in Role])

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError("no such user")
        staff_role_set(user=user, role=Role(options["role"]),
                       granted=options["action"] == "grant")
        verb = "granted" if options["action"] == "grant" else "revoked"
        self.stdout.write(f"{verb} {options['role']} for staff:{user.pk}")
