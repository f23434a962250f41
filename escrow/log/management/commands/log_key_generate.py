"""Generate the audit log's Ed25519 signed-note key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from escrow.crypto.note import signer_key_generate


class Command(BaseCommand):
    help = (
        "Print a new log signing key (secret: ESCROW_LOG_SIGNING_KEY) and its verifier key "
        "(public). The key name is the log's origin."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("origin", help="the log's origin, e.g. escrow.example.org/log")

    def handle(self, *args: Any, **options: Any) -> None:
        signer_key, verifier_key = signer_key_generate(name=options["origin"])
        self.stdout.write(f"ESCROW_LOG_ORIGIN={options['origin']}")
        self.stdout.write(f"ESCROW_LOG_SIGNING_KEY={signer_key}")
        self.stdout.write(f"# verifier key (publish): {verifier_key}")
