"""Check every escrow key epoch against the last ceremony or redistribution the log holds."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from escrow.crypto.threshold import EscrowPublicKey, InvalidPublicKey
from escrow.vault.models import EscrowKey
from escrow.vault.selectors import escrow_key_attestation_problem


class Command(BaseCommand):
    help = (
        "Check that each escrow key epoch's stored public key, threshold and share holders "
        "are the ones its latest logged ceremony or redistribution names. Run audit_verify "
        "first: this trusts the log's entries, which audit_verify proves. Exits 1 on any "
        "difference."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        rows = list(EscrowKey.objects.order_by("epoch"))
        if not rows:
            raise CommandError("no escrow key is registered: run the key ceremony")
        problems = []
        for row in rows:
            problem = escrow_key_attestation_problem(row)
            try:
                fingerprint = EscrowPublicKey.from_dict(row.public_key).fingerprint().hex()
            except InvalidPublicKey:
                fingerprint = "unreadable"
            state = "active" if row.is_active else "older"
            line = (f"epoch {row.epoch} ({state}, {row.threshold} of {row.custodian_count}, "
                    f"fingerprint {fingerprint}): ")
            if problem is None:
                self.stdout.write(line + "matches the log")
            else:
                problems.append(problem)
                self.stderr.write(line + "DIFFERS: " + problem)
        if problems:
            raise CommandError(
                f"{len(problems)} of {len(rows)} escrow key epoch(s) differ from the log",
                returncode=1,
            )
        self.stdout.write(self.style.SUCCESS(f"{len(rows)} escrow key epoch(s) match the log"))
