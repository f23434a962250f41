from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from escrow.log.events import Actor
from escrow.vault.services.ceremony import (
    CeremonyRejected,
    ceremony_shares_create,
    escrow_key_ceremony,
)


def write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


class Command(BaseCommand):
    help = (
        "Run the k-of-n key ceremony: create the escrow key, write one passphrase-sealed "
        "share file per custodian, and keep only the public parts. Hand each file to its "
        "custodian and delete it from this machine. With --offline nothing touches the "
        "database: the public key is written to public-key.json for escrow_key_register."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--threshold", type=int, required=True)
        parser.add_argument("--custodians", required=True,
                            help="comma-separated usernames, in share order")
        parser.add_argument("--out-dir", required=True, type=Path)
        parser.add_argument("--offline", action="store_true",
                            help="no database: write public-key.json for escrow_key_register")
        parser.add_argument("--epoch", type=int,
                            help="with --offline: the epoch the server expects next")
        parser.add_argument(
            "--passphrases-file",
            type=Path,
            help="JSON object username -> passphrase (automation only; default: prompt each)",
        )

    def _passphrases(self, usernames: list[str], source: Path | None) -> list[str]:
        if source:
            given = json.loads(source.read_text())
            return [given[u] for u in usernames]
        passphrases = []
        for username in usernames:
            first = getpass.getpass(f"Share passphrase for {username}: ")
            if first != getpass.getpass(f"Again for {username}: "):
                raise CommandError("passphrases differ")
            passphrases.append(first)
        return passphrases

    def handle(self, *args: Any, **options: Any) -> None:
        usernames = [u.strip() for u in options["custodians"].split(",") if u.strip()]
        out_dir: Path = options["out_dir"]
        if options["offline"]:
            if not options["epoch"]:
                raise CommandError("--offline needs --epoch (escrow_key_register --next-epoch)")
            passphrases = self._passphrases(usernames, options["passphrases_file"])
            try:
                shares = ceremony_shares_create(
                    threshold=options["threshold"], custodian_labels=usernames,
                    passphrases=passphrases, epoch=options["epoch"],
                )
            except CeremonyRejected as exc:
                raise CommandError(str(exc)) from exc
            out_dir.mkdir(parents=True, exist_ok=True)
            public = {"custodians": usernames, "public_key": shares.public_key.to_dict()}
            (out_dir / "public-key.json").write_text(json.dumps(public, indent=2))
            share_files = shares.share_files
            self.stdout.write(f"wrote {out_dir / 'public-key.json'}; fingerprint "
                              f"{shares.public_key.fingerprint().hex()}")
        else:
            users = {u.username: u for u in User.objects.filter(username__in=usernames)}
            missing = [u for u in usernames if u not in users]
            if missing:
                raise CommandError(f"unknown users: {', '.join(missing)}")
            passphrases = self._passphrases(usernames, options["passphrases_file"])
            try:
                outcome = escrow_key_ceremony(
                    threshold=options["threshold"],
                    custodians=[users[u] for u in usernames],
                    passphrases=passphrases,
                    actor=Actor.system("key-ceremony"),
                )
            except CeremonyRejected as exc:
                raise CommandError(str(exc)) from exc
            share_files = outcome.share_files
            key = outcome.escrow_key
            self.stdout.write(
                f"escrow key epoch {key.epoch}: {key.threshold} of {key.custodian_count}, active"
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        for username, data in share_files.items():
            path = out_dir / f"{username}.share.json"
            write_private(path, data)
            self.stdout.write(f"wrote {path}")
