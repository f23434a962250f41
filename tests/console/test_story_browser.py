"""The whole story in a real browser: an intake officer files a paper request in the
console; two approvers, each signed in with TOTP, approve it with step-ups; three
custodians run the exact `escrow-custodian` command their page shows (the real tool,
as separate processes); the release shows complete on the custodians' page and in the
auditor's event log.

With SCREENSHOT_DIR set, the intake form and the custodians' page are saved there.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from accounts.roles import Role
from escrow.log.services import log_sequence
from legal_requests.models import DisclosureRequest, Release
from tests import factories
from tests.accessibility import axe_violations
from tests.console.conftest import PASSWORD, otp_code
from tests.console.test_browser import _shot, _watch
from tests.release.conftest import (  # noqa: F401  (fixtures, used by name)
    SHARE_PASSPHRASE,
    World,
    eager_tasks,
    enrol,
    patient_log,
    world_build,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.usefixtures("eager_tasks", "patient_log")]

CUSTODIANS = ("frank", "grace", "heidi")


def _sign_in(page: Any, base: str, user: Any, *, drift: int = 0) -> None:
    page.goto(f"{base}/console/sign-in")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("One-time code").fill(otp_code(user, drift=drift))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/console/")


def _nav(page: Any, link: str) -> None:
    page.get_by_role("navigation", name="Console").get_by_role("link", name=link).click()


def _sign_out(page: Any, base: str) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/console/sign-in")


def _file_paper_request(page: Any, world: World, pseudonym: str) -> str:
    """Alice enters the request from its paper document; returns its reference."""
    _nav(page, "Enter a paper request")
    page.select_option("#id_agency", str(world.agency.pk))
    page.get_by_label("Requesting officer's name").fill("DS Ruth Example")
    page.get_by_label("Rank").fill("Detective Sergeant")
    page.get_by_label("Officer's official email").fill("ruth.example@police.example")
    page.get_by_label("Officer's telephone").fill("+44 20 7946 0001")
    page.get_by_label("The agency's case reference").fill("OP-HERON-7")
    page.select_option("#id_legal_basis", world.basis.code)
    page.get_by_label("Issuing authority").fill("Westminster Magistrates' Court")
    now = timezone.now()
    page.get_by_label("Issued on").fill((now - timedelta(days=1)).date().isoformat())
    page.get_by_label("Expires (UTC)").fill((now + timedelta(days=20)).strftime("%Y-%m-%dT%H:%M"))
    page.set_input_files("#id_document", files=[{
        "name": "order.pdf", "mimeType": "application/pdf", "buffer": factories.LEGAL_DOCUMENT}])
    page.get_by_label("Pseudonyms").fill(pseudonym)
    for field in ("given name", "family name", "email"):
        page.get_by_label(field, exact=True).check()
    page.get_by_label("Justification").fill("Threats to kill, sent by post and then online.")
    _shot(page, "console-intake")
    page.get_by_role("button", name="Enter the request").click()
    page.wait_for_selector(".messages")
    assert "is received and logged" in page.inner_text(".messages")
    return str(page.inner_text("h1")).split()[0]


def _approve(page: Any, user: Any, reference: str) -> str:
    page.get_by_role("link", name="Requests", exact=True).click()
    page.get_by_role("link", name=reference).click()
    page.get_by_label("Approve").check()
    page.get_by_label("Reason").fill("The court order covers this account and is in force.")
    page.get_by_label("One-time code").fill(otp_code(user, drift=1))  # a step-up: a new code
    page.get_by_role("button", name="Record my decision").click()
    return str(page.locator(".messages").inner_text())


def _custodian_command(page: Any, reference: str) -> list[str]:
    section = page.locator("section.release", has_text=reference)
    return shlex.split(section.locator("pre.command").inner_text())


def _run_custodian_tool(command: list[str], world: World, name: str,
                        tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The command as the page gives it, with this custodian's share file and passphrase."""
    share, passphrase = tmp_path / f"{name}.share.json", tmp_path / f"{name}.passphrase"
    share.write_bytes(world.share_files[name])
    passphrase.write_text(SHARE_PASSPHRASE + "\n")
    assert command[0] == "escrow-custodian"
    args = [str(share) if a == "YOUR-SHARE-FILE" else a for a in command[1:]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCROW_CUSTODIAN")}
    env["ESCROW_CUSTODIAN_TOKEN"] = world.staff_token(world.custodians[name])
    return subprocess.run(  # noqa: S603 - our own tool, with the page's arguments
        [sys.executable, "-m", "escrow.custodian.cli", *args, "--passphrase-file",
         str(passphrase), "--yes"],
        capture_output=True, text=True, env=env, timeout=120, check=False)


def test_a_paper_request_from_intake_to_release(live_server: Any, browser_page: Any,
                                                tmp_path: Path) -> None:
    world = world_build(share_files=True)
    factories.jurisdiction_enabled(world.agency.jurisdiction_id)  # the seed leaves it off
    dave = factories.staff("dave", Role.AUDITOR, password=PASSWORD)
    pseudonym = enrol(world).pseudonym
    page, base = browser_page, live_server.url
    problems = _watch(page)

    _sign_in(page, base, world.alice)
    reference = _file_paper_request(page, world, pseudonym)
    problems += axe_violations(page)
    page.get_by_role("button", name="Start the review").click()
    page.wait_for_selector("text=is in review")
    _sign_out(page, base)

    for approver, expected in ((world.bob, "1 of 2 needed"), (world.carol, "is approved")):
        _sign_in(page, base, approver)
        assert expected in _approve(page, approver, reference)
        _sign_out(page, base)
    disclosure = DisclosureRequest.objects.get(reference=reference)
    assert (disclosure.channel, disclosure.entered_by, disclosure.state) == (
        "paper", world.alice, "approved")

    for given, name in enumerate(CUSTODIANS):
        custodian = world.custodians[name]
        world.staff_token(custodian)  # the tool's token takes this time step's code
        _sign_in(page, base, custodian, drift=1)
        _nav(page, "Releases")
        assert f"Partials: {given} of 3 needed" in page.inner_text("section.release")
        if given == 1:
            _shot(page, "console-releases-waiting")
        problems += axe_violations(page)
        done = _run_custodian_tool(_custodian_command(page, reference), world, name, tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"Partial accepted: {given + 1} of 3" in done.stdout
        page.reload()
        if name != CUSTODIANS[-1]:
            _sign_out(page, base)

    release = Release.objects.get(request__reference=reference)
    progress = page.locator("section.release", has_text=reference)
    assert "Partials: 3 of 3 needed — complete" in progress.inner_text()
    assert progress.locator("progress").get_attribute("value") == "3"
    assert f"index {release.log_index}" in progress.inner_text()
    _shot(page, "console-releases")
    _sign_out(page, base)

    log_sequence()  # the sequencer's next pass: every event gets its log index
    _sign_in(page, base, dave)
    _nav(page, "Event log")
    page.get_by_label("Object").fill(disclosure.object_ref)
    page.get_by_role("button", name="Show").click()
    events = page.locator("table.events tbody tr")
    committed = events.filter(has_text="disclosure.release_committed").inner_text()
    assert re.match(rf"^\s*{release.log_index}\s", committed)  # as the custodians' page says
    assert re.match(r"^\s*\d+\s", events.filter(has_text="disclosure.released").inner_text())
    problems += axe_violations(page)
    assert problems == []
