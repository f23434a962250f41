"""The Celery application: Redis as broker; in-process (eager) when no broker is set.

Each app imports its own tasks module in `AppConfig.ready()`, so workers, beat and web
processes register the same tasks once Django is set up.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import before_task_publish
from django_structlog.celery.steps import DjangoStructLogInitStep

from escrow.jobs import HEARTBEAT_TASK, heartbeat_record

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("escrow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Workers bind the request id a task was queued under to its log records (config/logs.py).
app.steps["worker"].add(DjangoStructLogInitStep)


@app.task(name=HEARTBEAT_TASK, ignore_result=True)
def heartbeat() -> None:
    """Sent by beat on its schedule; a worker that runs it is alive (config/health.py)."""
    heartbeat_record("worker")


@before_task_publish.connect
def _beat_heartbeat(sender: str | None = None, **kwargs: Any) -> None:
    # Only beat sends the heartbeat task, so sending it is beat's own sign of life.
    if sender == HEARTBEAT_TASK:
        heartbeat_record("beat")
