"""Print a fresh environment for the demo: random secrets, SQLite under the demo folder."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand

from escrow.crypto.note import signer_key_generate

# The demo log's name; a real deployment names its log after its public URL.
DEMO_LOG_ORIGIN = "demo.escrow.localhost/log"


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
            f"ESCROW_TOTP_SEED_KEY={secrets.token_urlsafe(48)}",
            f"DATABASE_URL=sqlite:///{folder}/db.sqlite3",
            "CELERY_TASK_ALWAYS_EAGER=true",
            # A fresh Ed25519 key signs this demo's audit log checkpoints.
            f"ESCROW_LOG_ORIGIN={DEMO_LOG_ORIGIN}",
            f"ESCROW_LOG_SIGNING_KEY={signer_key_generate(name=DEMO_LOG_ORIGIN)[0]}",
        ]
        self.stdout.write("\n".join(lines))
