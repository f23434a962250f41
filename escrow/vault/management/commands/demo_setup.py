"""Create the demo's data once and describe it in credentials.json."""

from __future__ import annotations

import json
import os
import secrets
from base64 import b32encode
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Jurisdiction, Platform, WebhookEndpoint
from accounts.roles import Role
from accounts.services import (
    agency_create,
    credential_create,
    platform_create,
    staff_user_create,
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)
from escrow.log.events import Actor
from escrow.log.keys import log_identity
from escrow.vault.services.ceremony import escrow_key_ceremony

# The named actors the tests use too, so a reader recognises the story.
STAFF = [
    ("alice", [Role.INTAKE_OFFICER]),
    ("bob", [Role.APPROVER]),
    ("carol", [Role.APPROVER]),
    ("erin", [Role.APPROVER]),
    ("dave", [Role.AUDITOR]),
    ("olivia", [Role.ADMINISTRATOR]),
    # A second administrator: a reset or a privileged grant takes two (docs/console.md).
    ("oscar", [Role.ADMINISTRATOR]),
    ("frank", [Role.CUSTODIAN]),
    ("grace", [Role.CUSTODIAN]),
    ("heidi", [Role.CUSTODIAN]),
    ("ivan", [Role.CUSTODIAN]),
    ("judy", [Role.CUSTODIAN]),
]
DEMO_PLATFORM = "Demo Social"
JURISDICTIONS = [
    ("GB-EAW", "England and Wales", True),
    ("GB-SCT", "Scotland", True),
    ("US", "United States (federal)", True),
    ("XX-FOREIGN", "Example of a jurisdiction not enabled", False),
]


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _urls(base_url: str) -> dict[str, str]:
    return {"base_url": base_url, "api_docs": f"{base_url}/api/docs/",
            "console": f"{base_url}/console/", "admin": f"{base_url}/admin/"}


DEMO_WEBHOOK_DESCRIPTION = "demo receiver (manage.py webhook_receiver)"
DEMO_WEBHOOK_KEY_FILE = "webhook-receiver.secret"


@transaction.atomic
def _demo_webhook_endpoint(out: Path, url: str) -> None:
    """One endpoint of the demo platform at the local receiver, whose secret is on file.

    Kept pointing at this start's receiver (its port follows PORT); a secret that is no
    longer on file is replaced, since it was shown once and is gone.
    """
    platform = Platform.objects.get(name=DEMO_PLATFORM)
    secret_file = out / DEMO_WEBHOOK_KEY_FILE
    endpoint = WebhookEndpoint.objects.filter(
        platform=platform, description=DEMO_WEBHOOK_DESCRIPTION
    ).first()
    operator = Actor.system("demo-setup")
    if endpoint is None:
        issued = webhook_endpoint_create(platform=platform, url=url,
                                         description=DEMO_WEBHOOK_DESCRIPTION, actor=operator)
        _write_private(secret_file, f"{issued.signing_secret}\n".encode())
        return
    if endpoint.url != url or not endpoint.is_active:
        webhook_endpoint_update(endpoint=endpoint, url=url, is_active=True, actor=operator)
    if not secret_file.exists():
        issued = webhook_endpoint_rotate_secret(endpoint=endpoint, overlap=timedelta(0),
                                                actor=operator)
        _write_private(secret_file, f"{issued.signing_secret}\n".encode())


DEMO_CUSTODIAN_CONFIG = "custodian-config.json"


def _custodian_config(out: Path) -> Path:
    """The custodian tool's config for the demo (escrow/custodian/config.py): the log's
    verifier key and origin, and the demo witness (`make demo` runs it) with a quorum of
    one. Public keys only; a real custodian gets them from the auditors and the witnesses,
    never from the service they check."""
    identity = log_identity()
    document: dict[str, Any] = {"log_key": identity.verifier_key, "log_origin": identity.origin}
    if identity.witnesses:
        document["witnesses"] = [witness.vkey for witness in identity.witnesses]
        document["witness_quorum"] = 1
    path = out / DEMO_CUSTODIAN_CONFIG
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


class Command(BaseCommand):
    help = "Create demo data (once) and write its credentials to <out>/credentials.json."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--out", type=Path, default=Path(".demo"))
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--webhook-receiver-url", default="",
                            help="register the demo platform's endpoint here (the local "
                                 "webhook_receiver) and write its secret where it reads it")

    def handle(self, *args: Any, **options: Any) -> None:
        out: Path = options["out"]
        base_url: str = options["base_url"].rstrip("/")
        credentials_path = out / "credentials.json"
        if credentials_path.exists() and Platform.objects.exists():
            # Started again, perhaps on another PORT: the URLs follow this start.
            credentials = json.loads(credentials_path.read_text())
            credentials.update(_urls(base_url))
        else:
            out.mkdir(parents=True, exist_ok=True)
            credentials = self._create(out, base_url)
        _write_private(credentials_path, json.dumps(credentials, indent=2).encode())
        if options["webhook_receiver_url"]:
            _demo_webhook_endpoint(out, options["webhook_receiver_url"])
        custodian_config = _custodian_config(out)
        self.stdout.write(self.style.SUCCESS("Identity escrow demo"))
        self.stdout.write(f"  API:          {base_url}/api/v1/")
        self.stdout.write(f"  API docs:     {base_url}/api/docs/")
        self.stdout.write(f"  Console:      {base_url}/console/")
        self.stdout.write(f"  Admin:        {base_url}/admin/")
        self.stdout.write(f"  Health:       {base_url}/healthz/ready")
        self.stdout.write(f"  Credentials:  {credentials_path} (API keys, staff logins, TOTP, "
                          "custodian share files and passphrases)")
        self.stdout.write(f"  Custodians:   escrow-custodian --config {custodian_config} "
                          "(the log key and the demo witness, quorum 1)")

    @transaction.atomic
    def _create(self, out: Path, base_url: str) -> dict[str, Any]:
        for code, name, enabled in JURISDICTIONS:
            Jurisdiction.objects.update_or_create(
                code=code, defaults={"name": name, "is_enabled": enabled}
            )
        operator = Actor.system("demo-setup")
        platform = platform_create(name=DEMO_PLATFORM, actor=operator)
        platform_key = credential_create(platform=platform, label="demo", actor=operator)
        agency = agency_create(
            name="Demo Constabulary",
            jurisdiction_code="GB-EAW",
            callback_phone="+441632960000",
            callback_email="disclosure-desk@constabulary.example",
            actor=operator,
        )
        agency_key = credential_create(agency=agency, label="demo", actor=operator)
        staff: dict[str, Any] = {}
        users = {}
        for username, roles in STAFF:
            password = secrets.token_urlsafe(12)
            user, device = staff_user_create(
                username=username,
                email=f"{username}@escrow.example",
                password=password,
                roles=roles,
                actor=operator,
            )
            users[username] = user
            staff[username] = {
                "username": username,
                "password": password,
                "roles": [str(r) for r in roles],
                "totp_secret": b32encode(device.bin_key).decode().rstrip("="),
                "totp_uri": device.config_url,
            }
        custodian_names = [u for u, roles in STAFF if Role.CUSTODIAN in roles]
        passphrases = {u: secrets.token_urlsafe(16) for u in custodian_names}
        outcome = escrow_key_ceremony(
            threshold=3,
            custodians=[users[u] for u in custodian_names],
            passphrases=[passphrases[u] for u in custodian_names],
            actor=operator,
        )
        shares_dir = out / "shares"
        shares_dir.mkdir(parents=True, exist_ok=True)
        custodians: dict[str, Any] = {}
        for username, data in outcome.share_files.items():
            path = shares_dir / f"{username}.share.json"
            _write_private(path, data)
            custodians[username] = {"share_file": str(path), "passphrase": passphrases[username]}
        return {
            **_urls(base_url),
            "platform": {"id": str(platform.id), "name": platform.name,
                         "api_key": platform_key.api_key},
            "agency": {"id": str(agency.id), "name": agency.name,
                       "jurisdiction": "GB-EAW", "api_key": agency_key.api_key},
            "staff": staff,
            "escrow_key": {"epoch": outcome.escrow_key.epoch, "threshold": 3, "custodians": 5},
            "custodians": custodians,
        }
