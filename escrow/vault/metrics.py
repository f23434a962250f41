"""The vault's Prometheus counters, counted by the web process that answered (each
gunicorn worker's share is added up at scrape time; config/metrics.py)."""

from __future__ import annotations

from prometheus_client import Counter

ENROLMENTS = Counter(
    "escrow_enrolments",
    "Enrolments answered 201: new, or a replay of an earlier request's answer",
    ["outcome"],
)
