"""Print a fresh environment for the demo: random secrets, SQLite under the demo folder."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Print environment variables (KEY=value lines) for a new demo installation."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dir", default=".demo")

    def handle(self, *args: Any, **options: Any) -> None:
        folder = options["dir"]
        lines = [
            "ESCROW_ENV=development",
            f"SECRET_KEY={secrets.token_urlsafe(48)}",
            f"ESCROW_SERVICE_SECRET={secrets.token_urlsafe(48)}",
            f"DATABASE_URL=sqlite:///{folder}/db.sqlite3",
            "CELERY_TASK_ALWAYS_EAGER=true",
        ]
        self.stdout.write("\n".join(lines))
