"""The custodians' releases page in headless Chromium, for a request whose records span
two escrow key epochs: readable, accessible, and nothing fails to load.

With SCREENSHOT_DIR set, the page is saved there.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.accessibility import axe_violations
from tests.console.conftest import Story
from tests.console.test_browser import _shot, _sign_in, _watch
from tests.console.test_releases import spanning_epochs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True,
                                                          serialized_rollback=True)]


def test_a_custodian_of_two_epochs_sees_both_and_each_epochs_progress(
        live_server: Any, browser_page: Any, story: Story, escrow_keypair: Any) -> None:
    page, base = browser_page, live_server.url
    epoch1, epoch2 = spanning_epochs(story, escrow_keypair)
    problems = _watch(page)
    _sign_in(page, base, story.frank)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Releases").click()
    section = page.locator("section.release", has_text=story.disclosure.reference)
    text = section.inner_text()
    assert f"epoch {epoch1}: 0 of 3; epoch {epoch2}: 0 of 2" in text
    assert "Partials: 0 of 5 needed" in text
    assert section.locator("progress").get_attribute("max") == "5"
    assert f"not given yet (epochs {epoch1}, {epoch2})" in text
    assert page.locator("ul.shares li").count() == 2
    _shot(page, "console-releases-epochs")
    problems += axe_violations(page)
    assert problems == []
