"""The console's third-party JavaScript is vendored as package-lock.json pins it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.conf import settings

VENDOR = Path(settings.BASE_DIR, "console", "static", "console", "vendor")


def test_vendored_htmx_is_the_pinned_version_with_its_license() -> None:
    lock = json.loads(Path(settings.BASE_DIR, "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/htmx.org"]["version"]
    declared = json.loads(Path(settings.BASE_DIR, "package.json").read_text())
    assert declared["dependencies"]["htmx.org"] == pinned  # exact, no range
    assert (VENDOR / "htmx" / "VERSION").read_text().strip() == f"htmx.org {pinned}"
    assert "Zero-Clause BSD" in (VENDOR / "htmx" / "LICENSE").read_text()
    assert (VENDOR / "htmx" / "htmx.min.js").stat().st_size > 10_000


def test_vendored_axe_core_is_the_pinned_version_with_its_license() -> None:
    lock = json.loads(Path(settings.BASE_DIR, "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/axe-core"]["version"]
    axe = Path(settings.BASE_DIR, "tests", "vendor", "axe-core")
    assert (axe / "VERSION").read_text().strip() == f"axe-core {pinned}"
    assert "Mozilla Public License" in (axe / "LICENSE").read_text()
    assert f"axe v{pinned}" in (axe / "axe.min.js").read_text()[:200]


def test_vendored_chart_js_is_the_pinned_version_with_its_licenses() -> None:
    lock = json.loads(Path(settings.BASE_DIR, "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/chart.js"]["version"]
    declared = json.loads(Path(settings.BASE_DIR, "package.json").read_text())
    assert declared["dependencies"]["chart.js"] == pinned  # exact, no range
    chart = VENDOR / "chartjs"
    assert (chart / "VERSION").read_text().strip() == f"chart.js {pinned}"
    assert f"Chart.js v{pinned}" in (chart / "chart.umd.min.js").read_text()[:200]
    # The build bundles @kurkle/color: its license travels with it.
    for license_file in ("LICENSE.md", "LICENSE-kurkle-color.md"):
        assert "MIT License" in (chart / license_file).read_text()


def test_no_template_loads_anything_from_another_origin() -> None:
    for template in Path(settings.BASE_DIR, "console", "templates").rglob("*.html"):
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", template.read_text()), template
