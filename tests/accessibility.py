"""Accessibility checks for browser tests: axe-core, vendored from npm (`make vendor`).

axe-core is injected as a Playwright init script (through the DevTools protocol, so the
pages' Content-Security-Policy still forbids every inline script of their own).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")


def axe_enable(page: Any) -> None:
    """Load axe-core into every document the page opens from now on."""
    page.add_init_script(path=str(AXE))


def axe_violations(page: Any, *, impacts: tuple[str, ...] = BLOCKING_IMPACTS) -> list[str]:
    """The current document's axe-core violations of these impacts, one line each."""
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " targets: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))"
    )
    return [f"{page.url}: {v['impact']} {v['id']} ({v['help']}) at {v['targets']}"
            for v in found if v["impact"] in impacts]
