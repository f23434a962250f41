"""The Celery application: Redis as broker; in-process (eager) when no broker is set.

Each app imports its own tasks module in `AppConfig.ready()`, so workers, beat and web
processes register the same tasks once Django is set up.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("escrow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
