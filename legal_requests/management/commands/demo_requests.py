"""Sample disclosure requests for the demo, one in each state a newcomer should see.

Run by `make demo` after `demo_setup` (which creates the staff, the agency, the escrow
key and the custodians' share files). Every step goes through the same services as the
API and the console, so each request's timeline and the audit log are as real use
leaves them; the released request's partials are computed from the demo custodians'
share files exactly as `escrow-custodian release` computes them. Runs once: a database
that already holds requests is left alone.
"""

from __future__ import annotations

import json
import secrets
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Agency, Platform
from escrow.crypto.release import partial_decrypt, release_context
from escrow.crypto.sharefile import share_file_open
from escrow.vault.identity import Evidence, Identity, PostalAddress
from escrow.vault.models import Enrolment
from escrow.vault.services.enrolment import enrolment_create
from legal_requests.models import DisclosureRequest
from legal_requests.services import intake, review
from legal_requests.services.release.challenge import release_challenge_get
from legal_requests.services.release.commit import release_perform
from legal_requests.services.release.partials import release_partial_submit

# A fictional first name per sample account (RFC 2606 domains; Ofcom drama numbers).
SAMPLE_PEOPLE = ("Avery", "Blake", "Casey", "Devon", "Emery", "Finley")
DEMO_DOCUMENT = b"%PDF-1.4\n% demo legal document: no real order\n%%EOF\n"
RELEASING_CUSTODIANS = ("frank", "grace", "heidi")


def _enrol(platform: Platform, n: int) -> Enrolment:
    identity = Identity(
        given_name=SAMPLE_PEOPLE[n], family_name="Sample",
        date_of_birth=date(1990, 1, 1 + n),
        postal_address=PostalAddress(lines=(f"{n + 1} Example Street",), locality="London",
                                     postal_code="E1 6AN", country="GB"),
        email=f"{SAMPLE_PEOPLE[n].lower()}.sample@mailbox.example", phone=f"+44790090{n:04d}",
    )
    evidence = Evidence(provider="demo-idv", reference=f"demo-idv-{n}", assurance_level="high",
                        verified_at=timezone.now() - timedelta(days=30))
    return enrolment_create(platform=platform, identity=identity, evidence=evidence,
                            idempotency_key=secrets.token_hex(16)).enrolment


def _submission(pseudonym: str, *, case: str, basis: str, fields: list[str],
                facts: str = "", expires_in: timedelta = timedelta(days=28)) -> intake.Submission:
    now = timezone.now()
    return intake.Submission(
        officer=intake.Officer(name="DC Sam Demo", email="sam.demo@constabulary.example",
                               phone="+441632960001", rank="Detective Constable"),
        case_reference=case, legal_basis_code=basis,
        issuing_authority="Demo Magistrates' Court",
        document=intake.LegalDocument(name=f"{case}.pdf", content_type="application/pdf",
                                      content=DEMO_DOCUMENT),
        issued_on=(now - timedelta(days=2)).date(), expires_at=now + expires_in,
        pseudonyms=[pseudonym], requested_fields=fields,
        justification="Demo data: repeated threats to kill sent to the complainant.",
        emergency_facts=facts,
    )


class Command(BaseCommand):
    help = "Create sample disclosure requests in several states (once), for the demo."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--out", type=Path, default=Path(".demo"),
                            help="demo_setup's folder: credentials.json and the share files")

    def handle(self, *args: Any, **options: Any) -> None:
        if DisclosureRequest.objects.exists():
            return
        credentials_path = options["out"] / "credentials.json"
        if not credentials_path.exists():
            raise CommandError(f"{credentials_path} is missing: run demo_setup first")
        credentials = json.loads(credentials_path.read_text())
        staff = {u.username: u for u in User.objects.filter(username__in=credentials["staff"])}
        agency = Agency.objects.get(pk=credentials["agency"]["id"])
        platform = Platform.objects.get(pk=credentials["platform"]["id"])
        pseudonyms = [_enrol(platform, n).pseudonym for n in range(len(SAMPLE_PEOPLE))]
        created = self._requests(agency, staff, pseudonyms)
        self._release(created["released"], staff, credentials)
        # Said again after the set-up's output: the sign-ins are what a newcomer needs.
        self.stdout.write(self.style.SUCCESS("Sample disclosure requests"))
        for disclosure in created.values():
            state = DisclosureRequest.objects.get(pk=disclosure.pk).get_state_display()
            emergency = " (emergency)" if disclosure.is_emergency else ""
            self.stdout.write(f"  {disclosure.reference}: {state}{emergency}")
        self.stdout.write(f"  Console:      {credentials['console']}")
        self.stdout.write(f"  Sign-ins:     {credentials_path} (\"staff\": one per role, "
                          "with password and TOTP secret)")

    def _requests(self, agency: Agency, staff: dict[str, User],
                  pseudonyms: list[str]) -> dict[str, DisclosureRequest]:
        names = ["given_name", "family_name", "email"]

        def file(n: int, case: str, basis: str = "GB-EAW:production-order", *,
                 paper: bool = False, **kwargs: Any) -> DisclosureRequest:
            # On paper, alice enters it; otherwise the agency files it over the API.
            entered_by = staff["alice"] if paper else None
            submission = _submission(pseudonyms[n], case=case, basis=basis,
                                     fields=kwargs.pop("fields", names), **kwargs)
            return intake.disclosure_create(
                agency=agency, submission=submission, entered_by=entered_by,
                channel="paper" if entered_by else "api")

        received = file(0, "OP-DEMO-RECEIVED")
        # Due soon: the queue's due-date filter and its order have something to show.
        in_review = review.disclosure_review_start(
            disclosure=file(1, "OP-DEMO-REVIEW", expires_in=timedelta(hours=36)),
            reviewer=staff["alice"])
        asked = review.disclosure_review_start(disclosure=file(2, "OP-DEMO-QUESTION"),
                                               reviewer=staff["alice"])
        review.disclosure_information_ask(
            disclosure=asked, staff=staff["bob"],
            question="Please send the page of the order that names the account.")
        emergency = review.disclosure_review_start(
            disclosure=file(3, "OP-DEMO-EMERGENCY", basis="GB-EAW:emergency", paper=True,
                            fields=["given_name", "family_name", "phone"],
                            facts="A message threatens an attack on the complainant tonight."),
            reviewer=staff["alice"])
        approved = self._approved(file(4, "OP-DEMO-APPROVED"), staff)
        released = self._approved(file(5, "OP-DEMO-RELEASED"), staff)
        return {"received": received, "in_review": in_review, "needs_information": asked,
                "emergency": emergency, "approved": approved, "released": released}

    def _approved(self, disclosure: DisclosureRequest,
                  staff: dict[str, User]) -> DisclosureRequest:
        disclosure = review.disclosure_review_start(disclosure=disclosure,
                                                    reviewer=staff["alice"])
        for approver in ("bob", "carol"):
            review.disclosure_approve(disclosure=disclosure, approver=staff[approver],
                                      reason="Demo: the order is in force and in scope.")
        return disclosure

    def _release(self, disclosure: DisclosureRequest, staff: dict[str, User],
                 credentials: dict[str, Any]) -> None:
        """Three custodians' partials, as their tool computes them from their share files."""
        for name in RELEASING_CUSTODIANS:
            held = credentials["custodians"][name]
            share, public_key = share_file_open(data=Path(held["share_file"]).read_bytes(),
                                                passphrase=held["passphrase"])
            current = DisclosureRequest.objects.get(pk=disclosure.pk)
            challenge = release_challenge_get(disclosure=current, custodian=staff[name])
            context = release_context(request_id=str(disclosure.pk),
                                      approval_log_index=challenge.approval_proof.log_index)
            partial = partial_decrypt(share=share, public_key=public_key,
                                      points=[item.point for item in challenge.items],
                                      context=context)
            release_partial_submit(disclosure=current, custodian=staff[name],
                                   partial_data=partial.to_dict())
        if DisclosureRequest.objects.get(pk=disclosure.pk).state != "released":
            release_perform(disclosure_id=disclosure.pk)  # no worker ran the queued task

