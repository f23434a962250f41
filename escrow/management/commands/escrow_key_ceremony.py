from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from escrow.audit import Actor
from escrow.services.ceremony import CeremonyRejected, escrow_key_ceremony


class Command(BaseCommand):
    help = (
        "Run the k-of-n key ceremony: create the escrow key, write one passphrase-sealed "
        "share file per custodian, and keep only the public parts. Hand each file to its "
        "custodian and delete it from this machine."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--threshold", type=int, required=True)
        parser.add_argument("--custodians", required=True, help="comma-separated usernames")
        parser.add_argument("--out-dir", required=True, type=Path)
        parser.add_argument(
            "--passphrases-file",
            type=Path,
            help="JSON object username -> passphrase (automation only; default: prompt each)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        usernames = [u.strip() for u in options["custodians"].split(",") if u.strip()]
        users = {u.username: u for u in User.objects.filter(username__in=usernames)}
        missing = [u for u in usernames if u not in users]
        if missing:
            raise CommandError(f"unknown users: {', '.join(missing)}")
        if options["passphrases_file"]:
            given = json.loads(options["passphrases_file"].read_text())
            passphrases = [given[u] for u in usernames]
        else:
            passphrases = []
            for username in usernames:
                first = getpass.getpass(f"Share passphrase for {username}: ")
                if first != getpass.getpass(f"Again for {username}: "):
                    raise CommandError("passphrases differ")
                passphrases.append(first)
        try:
            outcome = escrow_key_ceremony(
                threshold=options["threshold"],
                custodians=[users[u] for u in usernames],
                passphrases=passphrases,
                actor=Actor.system("key-ceremony"),
            )
        except CeremonyRejected as exc:
            raise CommandError(str(exc)) from exc
        out_dir: Path = options["out_dir"]
        out_dir.mkdir(parents=True, exist_ok=True)
        for username, data in outcome.share_files.items():
            path = out_dir / f"{username}.share.json"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            self.stdout.write(f"wrote {path}")
        key = outcome.escrow_key
        self.stdout.write(
            f"escrow key epoch {key.epoch}: {key.threshold} of {key.custodian_count}, active"
        )
