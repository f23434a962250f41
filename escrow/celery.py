"""The Celery application: Redis as broker; in-process (eager) when no broker is set."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "escrow.settings")

# Autodiscovery finds only `<app>.tasks`; modules with other names are listed here.
app = Celery("escrow", include=["legal_requests.release_tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
