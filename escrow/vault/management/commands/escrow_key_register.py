from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from escrow.crypto.errors import CryptoError
from escrow.crypto.threshold import EscrowPublicKey
from escrow.log.events import Actor
from escrow.vault.services.ceremony import (
    CeremonyRejected,
    escrow_key_next_epoch,
    escrow_key_register,
)


class Command(BaseCommand):
    help = (
        "Register the public key of an offline ceremony (public-key.json) and make it the "
        "active escrow key. --next-epoch prints the epoch the offline ceremony must use."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--public-key", type=Path)
        parser.add_argument("--next-epoch", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["next_epoch"]:
            self.stdout.write(str(escrow_key_next_epoch()))
            return
        if options["public_key"] is None:
            raise CommandError("give --public-key FILE or --next-epoch")
        try:
            document = json.loads(options["public_key"].read_text())
            public_key = EscrowPublicKey.from_dict(document["public_key"])
            usernames = list(document["custodians"])
        except (OSError, ValueError, KeyError, TypeError, CryptoError) as exc:
            raise CommandError(f"not a valid public-key.json ({type(exc).__name__})") from exc
        users = {u.username: u for u in User.objects.filter(username__in=usernames)}
        missing = [u for u in usernames if u not in users]
        if missing:
            raise CommandError(f"unknown users: {', '.join(missing)}")
        try:
            key = escrow_key_register(
                public_key=public_key, custodians=[users[u] for u in usernames],
                actor=Actor.system("key-ceremony"),
            )
        except CeremonyRejected as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"escrow key epoch {key.epoch} ({key.threshold} of "
                          f"{key.custodian_count}) registered and active; fingerprint "
                          f"{public_key.fingerprint().hex()}")
