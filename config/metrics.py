"""Prometheus metrics at /metrics, for the operator's scraper only (docs/operations.md).

django-prometheus counts requests, latencies, responses by status, database and cache
calls. Ours: enrolments (counted by the web process that answered, escrow/vault/metrics.py)
and, read from the database and the broker at each scrape so that work done in Celery
workers counts too, releases by outcome, the sequencer's backlog, the age of the latest
checkpoint, the Celery queue's depth and webhook deliveries in trouble.

Not public: with `ESCROW_METRICS_TOKEN` set, a scrape must send it as a bearer token;
without one, only a direct loopback connection is served (a request that came through a
proxy carries `X-Forwarded-For` or `Forwarded` and is refused, even from 127.0.0.1).
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from kombu.exceptions import ChannelError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from accounts.selectors import webhook_delivery_trouble
from escrow.api.problems import problem_response
from escrow.log.selectors import audit_event_counts, log_backlog, log_checkpoint_latest
from legal_requests.selectors import RELEASE_ABORTED_EVENT
from legal_requests.services.release.commit import RELEASED_EVENT

logger = logging.getLogger("escrow.metrics")

_LOOPBACK = {"127.0.0.1", "::1"}
RELEASE_OUTCOMES = {RELEASED_EVENT: "released", RELEASE_ABORTED_EVENT: "aborted"}


def _celery_queue_depth() -> int | None:
    """Messages waiting in the default queue; None without a broker (tasks in-process)."""
    if not settings.REDIS_URL or settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    from config.celery import app

    queue = app.conf.task_default_queue
    with app.connection_for_read(connect_timeout=1) as connection:
        channel: Any = connection.default_channel  # kombu's virtual channel (Redis)
        try:
            declared = channel.queue_declare(queue=queue, passive=True)
        except ChannelError:  # no worker has declared the queue yet: nothing waits in it
            return 0
    return int(declared.message_count)


class EscrowCollector(Collector):
    """Read at each scrape; a source that fails leaves its metric out, never the page."""

    def describe(self) -> Iterator[Metric]:
        # Nothing to declare up front: registering must not query the database.
        return iter(())

    def collect(self) -> Iterator[Metric]:
        for read in (self._releases, self._log, self._queue, self._webhooks):
            try:
                yield from read()
            except Exception as exc:  # a scrape must still answer; the gap is the alert
                logger.warning("metric source %s failed: %s", read.__name__,
                               type(exc).__name__)

    def _releases(self) -> Iterator[Metric]:
        family = CounterMetricFamily("escrow_releases", "Release outcomes recorded in the "
                                     "audit log", labels=["outcome"])
        for event_type, count in audit_event_counts(event_types=list(RELEASE_OUTCOMES)).items():
            family.add_metric([RELEASE_OUTCOMES[event_type]], count)
        yield family

    def _log(self) -> Iterator[Metric]:
        backlog = log_backlog()
        now = timezone.now()
        yield GaugeMetricFamily("escrow_log_sequencer_backlog_entries",
                                "Committed audit events not yet in the log",
                                value=backlog.entries)
        oldest = 0.0 if backlog.oldest_at is None else (now - backlog.oldest_at).total_seconds()
        yield GaugeMetricFamily("escrow_log_sequencer_backlog_age_seconds",
                                "Age of the oldest event waiting to be sequenced (0: none)",
                                value=max(0.0, oldest))
        checkpoint = log_checkpoint_latest()
        if checkpoint is not None:
            yield GaugeMetricFamily("escrow_log_checkpoint_age_seconds",
                                    "Seconds since the latest checkpoint was signed",
                                    value=(now - checkpoint.created_at).total_seconds())

    def _queue(self) -> Iterator[Metric]:
        depth = _celery_queue_depth()
        if depth is not None:
            yield GaugeMetricFamily("escrow_celery_queue_depth",
                                    "Tasks waiting in the Celery queue", value=depth)

    def _webhooks(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("escrow_webhook_deliveries_failing",
                                   "Webhook deliveries retrying after a failed attempt, and "
                                   "those given up", labels=["state"])
        for state, count in webhook_delivery_trouble().items():
            family.add_metric([state], count)
        yield family


# Each counter's `_created` twin doubles the page and no alert reads it.
disable_created_metrics()
_COLLECTOR = EscrowCollector()
REGISTRY.register(_COLLECTOR)


def _registry() -> CollectorRegistry:
    # Under gunicorn with PROMETHEUS_MULTIPROC_DIR, each worker writes its counters to
    # files there and one scrape adds them up (prometheus_client's multiprocess mode).
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(_COLLECTOR)
    return registry


def metrics_allowed(request: HttpRequest) -> bool:
    token = settings.ESCROW_METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())
    proxied = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    return request.META.get("REMOTE_ADDR") in _LOOPBACK and not proxied


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return problem_response(status=403, code="permission_denied",
                                title="Permission denied")
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
