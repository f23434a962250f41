"""The composition root: settings, root URLs, the Celery app, WSGI and gunicorn."""

from config.celery import app as celery_app

__all__ = ("celery_app",)
