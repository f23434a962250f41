"""The service's settings plus the bench's bare endpoint (never part of the product)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.enrol.urls"
LOGGING = {"version": 1, "disable_existing_loggers": False}
