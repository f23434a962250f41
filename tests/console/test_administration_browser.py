"""The administrators' pages in a real browser: two administrators reset an approver's
password (olivia proposes, oscar approves, each with a step-up), and a platform's key is
issued once. Every page is checked with axe-core; with SCREENSHOT_DIR set the pages are
saved there (docs/console/).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.sessions.models import Session

from accounts.models import ApiCredential, StaffChange, StaffMail
from accounts.roles import Role
from accounts.secrets import secret_digest
from tests import factories
from tests.accessibility import axe_violations
from tests.console.conftest import Story, console_client, otp_code
from tests.console.test_browser import _shot, _sign_in, _watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True,
                                                          serialized_rollback=True)]


def _nav(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Console").get_by_role("link", name=name).click()


def _sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()


def test_two_administrators_reset_an_approvers_password(live_server: Any, browser_page: Any,
                                                        story: Story) -> None:
    page, base = browser_page, live_server.url
    olivia = factories.staff("olivia", Role.ADMINISTRATOR)
    oscar = factories.staff("oscar", Role.ADMINISTRATOR)
    bob_browser = console_client(story.bob)
    problems = _watch(page)

    _sign_in(page, base, olivia)
    _nav(page, "Staff")
    page.get_by_role("link", name="bob", exact=True).click()
    page.get_by_label("Password (a new one is mailed to them)").check()
    page.locator("#reset-heading ~ form").get_by_label("One-time code").fill(
        otp_code(olivia, drift=1))
    page.get_by_role("button", name="Propose the reset").click()
    assert "second administrator approves it" in page.locator(".messages").inner_text()
    problems += axe_violations(page)
    _shot(page, "console-staff-account")
    _nav(page, "Staff")
    # Her own proposal offers her no approval.
    assert page.get_by_label("Approve and make the change").count() == 0
    problems += axe_violations(page)
    _sign_out(page)

    _sign_in(page, base, oscar)
    _nav(page, "Staff")
    _shot(page, "console-staff")
    page.get_by_label("Approve and make the change").check()
    page.locator("#changes-heading ~ div form").get_by_label("One-time code").fill(
        otp_code(oscar, drift=1))
    page.get_by_role("button", name="Record").click()
    assert "approved and made" in page.locator(".messages").inner_text()
    assert StaffChange.objects.get(target=story.bob).state == StaffChange.State.EXECUTED
    assert StaffMail.objects.filter(user=story.bob, kind="password_reset").exists()
    assert bob_browser.get("/console/").status_code == 302
    assert not [s for s in Session.objects.all()
                if s.get_decoded().get("_auth_user_id") == str(story.bob.pk)]
    problems += axe_violations(page)
    assert problems == []


def test_an_administrator_issues_a_key_and_adds_an_agency(live_server: Any,
                                                          browser_page: Any) -> None:
    page, base = browser_page, live_server.url
    olivia = factories.staff("olivia", Role.ADMINISTRATOR)
    factories.platform_with_key(name="Chirper")
    factories.jurisdiction_enabled("GB-EAW")
    problems = _watch(page)
    _sign_in(page, base, olivia)
    _nav(page, "Platforms")
    problems += axe_violations(page)
    page.get_by_role("link", name="Chirper").click()
    page.get_by_label("Label").fill("signup service")
    page.locator("#issue-heading ~ form").get_by_label("One-time code").fill(
        otp_code(olivia, drift=1))
    page.get_by_role("button", name="Issue a key").click()
    key = page.locator("#issued-key").inner_text()
    issued = ApiCredential.objects.get(label="signup service")
    assert secret_digest(key) == bytes(issued.key_hash)  # the working key, shown once
    problems += axe_violations(page)
    _shot(page, "console-platform-key")

    _nav(page, "Agencies")
    page.get_by_label("Agency name").fill("Thames Valley Police")
    page.get_by_label("Jurisdiction").select_option("GB-EAW")
    page.get_by_label("Call-back telephone").fill("0207 946 0000")
    page.get_by_label("Call-back email address").fill("duty@tvp.police.example")
    page.get_by_role("button", name="Add the agency").click()
    assert "international form" in page.inner_text("main")
    page.get_by_label("Call-back telephone").fill("+44 20 7946 0000")
    page.get_by_role("button", name="Add the agency").click()
    assert "+442079460000" in page.inner_text("table")
    problems += axe_violations(page)
    _shot(page, "console-agencies")
    # The refused number's 400 page is the one expected error response (reported both
    # as a response and in the browser's console).
    assert [p for p in problems if not p.startswith("400: ") and "status of 400" not in p] == []
