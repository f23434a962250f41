from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Agency, ApiCredential, Platform
from accounts.services import credential_create, credential_revoke, credential_rotate


class Command(BaseCommand):
    help = "Issue, list, rotate or revoke platform and agency API keys."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        issue = sub.add_parser("issue")
        issue.add_argument("--platform")
        issue.add_argument("--agency")
        issue.add_argument("--label", default="")
        issue.add_argument("--scopes", default="", help="comma-separated; default per owner")
        listing = sub.add_parser("list")
        listing.add_argument("--platform")
        listing.add_argument("--agency")
        rotate = sub.add_parser("rotate")
        rotate.add_argument("prefix")
        rotate.add_argument("--overlap-hours", type=float, default=24.0)
        revoke = sub.add_parser("revoke")
        revoke.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "issue":
            platform = Platform.objects.filter(name=options["platform"]).first() \
                if options["platform"] else None
            agency = Agency.objects.filter(name=options["agency"]).first() \
                if options["agency"] else None
            if (platform is None) == (agency is None):
                raise CommandError("name exactly one existing --platform or --agency")
            scopes = [s for s in options["scopes"].split(",") if s] or None
            try:
                issued = credential_create(
                    platform=platform, agency=agency, label=options["label"], scopes=scopes
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"API key (shown once): {issued.api_key}")
        elif action == "list":
            rows = ApiCredential.objects.select_related("platform", "agency").order_by("id")
            if options["platform"]:
                rows = rows.filter(platform__name=options["platform"])
            if options["agency"]:
                rows = rows.filter(agency__name=options["agency"])
            for row in rows:
                owner = row.platform or row.agency
                state = "revoked" if row.revoked_at else (
                    f"expires {row.expires_at:%Y-%m-%d %H:%M}" if row.expires_at else "active")
                self.stdout.write(f"{row.prefix}  {owner}  {','.join(row.scopes)}  {state}")
        else:
            credential = ApiCredential.objects.filter(prefix=options["prefix"]).first()
            if credential is None:
                raise CommandError("no credential with that prefix")
            if action == "rotate":
                issued = credential_rotate(
                    credential=credential, overlap=timedelta(hours=options["overlap_hours"])
                )
                self.stdout.write(f"new API key (shown once): {issued.api_key}")
                self.stdout.write(f"old key {credential.prefix} lapses in "
                                  f"{options['overlap_hours']} h")
            else:
                credential_revoke(credential=credential)
                self.stdout.write(f"revoked {credential.prefix}")
