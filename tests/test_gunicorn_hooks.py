"""config/gunicorn.conf.py's worker hooks."""

from __future__ import annotations

import gc
import runpy
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_worker_freezes_what_it_loaded_before_it_serves() -> None:
    """Full garbage collections then skip the ~150,000 objects of Django, the views and
    their libraries, which live as long as the worker: without the freeze each one walked
    them all (about 75 ms, which some request waited through)."""
    hooks = runpy.run_path(str(REPO / "config" / "gunicorn.conf.py"))
    gc.unfreeze()
    try:
        hooks["post_worker_init"](None)
        assert gc.get_freeze_count() > 10_000
        # The URLconf, and so every view module, is imported before the freeze.
        assert "escrow.vault.api.enrolments" in sys.modules
    finally:
        gc.unfreeze()
