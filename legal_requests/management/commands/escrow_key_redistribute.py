from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from escrow.crypto.threshold import EscrowPublicKey
from escrow.log.events import Actor
from legal_requests.services.redistribution import RedistributionRejected, escrow_key_redistribute


class Command(BaseCommand):
    help = (
        "Record a custodian turnover: the dealers' public dealing files (from "
        "`escrow-custodian redistribute deal`) and the new custodians, in new share order."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--epoch", type=int, required=True)
        parser.add_argument("--dealing", type=Path, action="append", required=True)
        parser.add_argument("--custodian", action="append", required=True,
                            help="a new custodian's username (repeat, in share order)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            dealings = [path.read_bytes() for path in options["dealing"]]
        except OSError as exc:
            raise CommandError(f"cannot read a dealing file: {exc.strerror}") from exc
        usernames = options["custodian"]
        users = {u.username: u for u in User.objects.filter(username__in=usernames)}
        missing = [u for u in usernames if u not in users]
        if missing:
            raise CommandError(f"unknown users: {', '.join(missing)}")
        try:
            key = escrow_key_redistribute(
                epoch=options["epoch"], dealings=dealings,
                custodians=[users[u] for u in usernames], actor=Actor.system("key-turnover"),
            )
        except RedistributionRejected as exc:
            raise CommandError(str(exc)) from exc
        fingerprint = EscrowPublicKey.from_dict(key.public_key).fingerprint().hex()
        self.stdout.write(
            f"escrow key epoch {key.epoch} now held {key.threshold} of {key.custodian_count} "
            f"by the new custodians; fingerprint {fingerprint}. The departing custodians "
            "must destroy their old share files."
        )
