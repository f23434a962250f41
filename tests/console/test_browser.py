"""The console in a real browser (headless Chromium): sign-in with TOTP, the queue, and
two approvals each behind a step-up; first-time enrolment from the page's own key.

A failing test leaves a screenshot of its page (tests/conftest.py, browser_page); with
SCREENSHOT_DIR set, the pages are also saved there.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.roles import Role
from escrow.log.services import log_sequence
from legal_requests.models import DisclosureRequest
from tests import factories
from tests.accessibility import axe_enable, axe_violations
from tests.console.conftest import PASSWORD, Story, otp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True,
                                                          serialized_rollback=True)]


def _watch(page: Any) -> list[str]:
    """Collects what must never happen: a CSP violation, a script error, a failed fetch;
    and loads axe-core for the accessibility checks."""
    axe_enable(page)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    # a fetch the browser abandons because the page moved on (the favicon of a page left
    # at once) is the browser's choice, not the server failing
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} ({r.failure})")
            if r.failure != "net::ERR_ABORTED" else None)
    page.on("response", lambda r: problems.append(f"{r.status}: {r.url}")
            if r.status >= 400 else None)
    return problems


def _shot(page: Any, name: str) -> None:
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], f"{name}.png"),
                        full_page=True)


def _sign_in(page: Any, base: str, user: Any) -> None:
    page.goto(f"{base}/console/")
    assert "/console/sign-in" in page.url  # the console sends strangers to sign in
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("One-time code").fill(otp_code(user))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/console/")


def _approve(page: Any, base: str, user: Any, story: Story) -> str:
    page.get_by_role("link", name="Requests", exact=True).click()
    page.get_by_role("link", name=story.disclosure.reference).click()
    page.get_by_label("Approve").check()
    page.get_by_label("Reason").fill("The production order covers this account.")
    # Step-up: a new code, since the one used to sign in is spent.
    page.get_by_label("One-time code").fill(otp_code(user, drift=1))
    page.get_by_role("button", name="Record my decision").click()
    return str(page.locator(".messages").inner_text())


def test_two_approvers_sign_in_and_approve_with_step_up(live_server: Any, browser_page: Any,
                                                        story: Story) -> None:
    page, base = browser_page, live_server.url
    problems = _watch(page)
    _sign_in(page, base, story.bob)
    page.get_by_role("link", name="Requests", exact=True).click()
    page.wait_for_selector("table.queue")
    assert story.disclosure.reference in page.inner_text("table.queue")
    _shot(page, "console-queue")
    problems += axe_violations(page)
    log_sequence()  # the timeline shows each event's index in the log
    page.get_by_role("link", name=story.disclosure.reference).click()
    timeline = page.inner_text("table.timeline")
    assert "disclosure.review_started" in timeline
    assert "pending" not in timeline
    _shot(page, "console-request")
    problems += axe_violations(page)
    page.get_by_role("link", name="Requests", exact=True).click()
    assert "1 of 2 needed" in _approve(page, base, story.bob, story)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/console/sign-in")
    problems += axe_violations(page)

    _sign_in(page, base, story.carol)
    assert "the request is approved" in _approve(page, base, story.carol, story)
    _shot(page, "console-request-approved")
    problems += axe_violations(page)
    story.disclosure.refresh_from_db()
    assert story.disclosure.state == DisclosureRequest.State.APPROVED
    assert problems == []


def test_keyboard_focus_is_visible_and_fields_are_labelled(live_server: Any,
                                                           browser_page: Any) -> None:
    page = browser_page
    axe_enable(page)
    page.goto(f"{live_server.url}/console/sign-in")
    assert axe_violations(page) == []
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert "Skip to the content" in focused
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # past the brand link, to the first field
    assert page.evaluate("document.activeElement.id") == "id_username"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
        ".filter(e => !e.labels || e.labels.length === 0).map(e => e.name)")
    assert unlabelled == []
    # The check can fail: without its label the field is a critical violation.
    page.evaluate("document.querySelector('label[for=id_username]').remove()")
    assert any("critical label" in v for v in axe_violations(page))


def test_first_sign_in_sets_up_the_authenticator(live_server: Any, browser_page: Any) -> None:
    erin = factories.staff("erin", Role.APPROVER)
    TOTPDevice.objects.filter(user=erin).delete()
    page, base = browser_page, live_server.url
    problems = _watch(page)
    page.goto(f"{base}/console/sign-in")
    page.get_by_label("Username").fill("erin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/console/sign-in/second-factor")
    assert page.locator(".qr svg").is_visible()
    _shot(page, "console-enrol")
    problems += axe_violations(page)
    typed_key = page.inner_text("code.secret").replace(" ", "")
    key = base64.b32decode(typed_key + "=" * (-len(typed_key) % 8))
    page.get_by_label("One-time code").fill(f"{totp(key):06d}")
    page.get_by_role("button", name="Confirm and sign in").click()
    page.wait_for_url(f"{base}/console/")
    assert "authenticator app is set up" in page.inner_text(".messages")
    assert TOTPDevice.objects.get(user=erin).confirmed
    assert problems == []


def test_the_queue_filters_in_place_and_error_pages_are_accessible(
        live_server: Any, browser_page: Any, story: Story) -> None:
    page, base = browser_page, live_server.url
    problems = _watch(page)
    _sign_in(page, base, story.dave)
    problems += axe_violations(page)
    page.goto(f"{base}/console/requests/")
    page.evaluate("window.notReloaded = true")
    with page.expect_response(lambda r: "state=rejected" in r.url):
        page.select_option("#id_state", "rejected")  # htmx fetches the results only
    page.wait_for_selector("text=No request matches these filters.")
    assert page.evaluate("window.notReloaded") is True
    assert "state=rejected" in page.evaluate("location.href")  # the filter is in the URL
    problems += axe_violations(page)
    assert problems == []

    response = page.goto(f"{base}/console/no-such-page")
    assert response.status == 404
    assert page.inner_text("h1") == "Page not found"
    assert axe_violations(page) == []
