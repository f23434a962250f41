"""Pages, in a real browser: headless Chromium driven by Playwright."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.roles import Role
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True,
                                                          serialized_rollback=True)]


def test_api_docs_render_every_enrolment_operation(live_server: Any, browser_page: Any
                                                   ) -> None:
    page = browser_page
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".opblock", timeout=20_000)
    text = page.inner_text("body")
    for path in ("/api/v1/enrolments", "/api/v1/enrolments/{pseudonym}/ban",
                 "/api/v1/auth/token"):
        assert path in text
    # Every asset comes from this service: nothing was fetched from elsewhere.
    assert failed == []
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], "api-docs.png"))


def test_console_sign_in_needs_the_one_time_code(live_server: Any, browser_page: Any) -> None:
    olivia = factories.staff("olivia", Role.ADMINISTRATOR, password="console pass phrase 1")
    olivia.is_staff = True
    olivia.save(update_fields=["is_staff"])
    page = browser_page
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", "console pass phrase 1")
    page.fill("#id_otp_token", "000000")
    page.click("input[type=submit]")
    assert "/admin/login/" in page.url  # a wrong code keeps her out

    device = TOTPDevice.objects.get(user=olivia)
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    page.fill("#id_username", "olivia")
    page.fill("#id_password", "console pass phrase 1")
    if page.query_selector("#id_otp_device"):  # django-otp lists her devices
        page.select_option("#id_otp_device", index=1)
    page.fill("#id_otp_token", code)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/", timeout=10_000)
    assert "Identity escrow console" in page.inner_text("body")
