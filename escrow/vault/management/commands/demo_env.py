"""Print a fresh environment for the demo: random secrets, SQLite under the demo folder."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from escrow.crypto.cosignature import (
    cosigner_key_encode,
    cosigner_key_generate,
    cosigner_key_parse,
)
from escrow.crypto.note import signer_key_generate

# The demo log's name; a real deployment names its log after its public URL.
DEMO_LOG_ORIGIN = "demo.escrow.localhost/log"
# The demo's witness: in a deployment another organisation runs it, under its own name.
DEMO_WITNESS_NAME = "witness.demo.localhost/wendy"
DEMO_WITNESS_KEY_FILE = "witness.key"


def demo_witness_key(folder: Path) -> str:
    """The demo witness's verifier key. Its secret key is made once, in `folder`,
    readable by its owner only, and never replaced: the log and the custodians' config
    name the key, and a witness's state only means something under the same key."""
    path = folder / DEMO_WITNESS_KEY_FILE
    if not path.exists():
        skey, _ = cosigner_key_generate(name=DEMO_WITNESS_NAME)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(skey + "\n")
    name, private_key = cosigner_key_parse(path.read_text(encoding="utf-8").strip())
    return cosigner_key_encode(name=name, public_key=private_key.public_key().public_bytes_raw())


class Command(BaseCommand):
    help = "Print environment variables (KEY=value lines) for a new demo installation."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dir", default=".demo")
        parser.add_argument("--witness-only", action="store_true",
                            help="print only the witness setting (for a demo folder made "
                                 "before the demo ran a witness)")

    def handle(self, *args: Any, **options: Any) -> None:
        folder = options["dir"]
        Path(folder).mkdir(parents=True, exist_ok=True)
        # The log accepts cosignatures from this witness alone (make demo runs it).
        witness = f"ESCROW_LOG_WITNESS_KEYS={demo_witness_key(Path(folder))}"
        if options["witness_only"]:
            self.stdout.write(witness)
            return
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
            witness,
        ]
        self.stdout.write("\n".join(lines))
