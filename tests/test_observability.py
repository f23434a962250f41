"""What an operator watches: the request id in answers and logs, /metrics, readiness."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from config.logs import formatter_config
from tests import factories
from tests.factories import CANARY, identity_payload
from tests.test_no_plaintext import canary_variants

pytestmark = pytest.mark.django_db

HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every record, as the production formatter renders it (one JSON object a line)."""
    config = formatter_config("json")
    factory = config.pop("()")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(factory(**config))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


# --- the request id --------------------------------------------------------------------


def test_a_well_formed_request_id_is_echoed() -> None:
    response = Client().get("/healthz/live", HTTP_X_REQUEST_ID="lb-7f3a.2026:abc_DEF")
    assert response["X-Request-ID"] == "lb-7f3a.2026:abc_DEF"


@pytest.mark.parametrize("sent", [None, "", "a" * 129, "two words", "id\r\nX-Evil: 1",
                                  "caf\u00e9", "{\"json\": 1}"])
def test_a_missing_or_malformed_request_id_is_replaced(sent: str | None) -> None:
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
    response = Client().get("/healthz/live", **headers)
    assert HEX_ID.fullmatch(response["X-Request-ID"])


def test_problem_answers_carry_the_request_id_too(platform_a: Any) -> None:
    client = Client()
    missing = client.get("/api/v1/no-such-thing", HTTP_X_REQUEST_ID="req-404")
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/problem+json"
    assert missing["X-Request-ID"] == "req-404"
    unauthenticated = client.get("/api/v1/enrolments/PSN-X", HTTP_X_REQUEST_ID="req-401")
    assert unauthenticated.status_code in (401, 403)
    assert unauthenticated["X-Request-ID"] == "req-401"
    too_large = client.post("/api/v1/enrolments", data=b"{}", content_type="application/json",
                            CONTENT_LENGTH=str(10**10), HTTP_X_REQUEST_ID="req-413")
    assert too_large.status_code == 413
    assert too_large["X-Request-ID"] == "req-413"


def test_every_record_of_a_request_carries_its_id(
    platform_a: Any, json_log: io.StringIO
) -> None:
    response = platform_a.client.post(
        "/api/v1/enrolments", identity_payload(), format="json",
        HTTP_IDEMPOTENCY_KEY=factories.idempotency_key(), HTTP_X_REQUEST_ID="req-enrol-1",
    )
    assert response.status_code == 201
    assert response["X-Request-ID"] == "req-enrol-1"
    lines = log_lines(json_log)
    finished = [line for line in lines if line["event"] == "request_finished"]
    assert finished == [{
        "event": "request_finished", "method": "POST", "route": "api/v1/enrolments",
        "status": 201, "duration_ms": finished[0]["duration_ms"], "request_id": "req-enrol-1",
        "level": "info", "logger": "escrow.request", "timestamp": finished[0]["timestamp"],
    }]
    # Standard-library records written during the request (the service's own) too.
    assert all(line.get("request_id") == "req-enrol-1" for line in lines)


def test_polls_of_the_checkpoint_are_logged_at_debug_only(json_log: io.StringIO) -> None:
    # A witness (the demo runs one) and the auditors' pages fetch it every few seconds.
    assert Client().get("/log/checkpoint").status_code in {200, 404}
    finished = [line for line in log_lines(json_log) if line["event"] == "request_finished"]
    assert [(line["route"], line["level"]) for line in finished] == [
        ("log/checkpoint", "debug")]


def test_logs_carry_no_identity_value_nor_path_nor_query(
    platform_a: Any, json_log: io.StringIO
) -> None:
    client = platform_a.client
    created = client.post("/api/v1/enrolments", identity_payload(), format="json",
                          HTTP_IDEMPOTENCY_KEY=factories.idempotency_key())
    assert created.status_code == 201
    pseudonym = created.json()["pseudonym"]
    bad = identity_payload()
    bad["identity"]["email"] = CANARY["family_name"]
    assert client.post("/api/v1/enrolments", bad, format="json",
                       HTTP_IDEMPOTENCY_KEY=factories.idempotency_key()).status_code == 400
    client.get(f"/api/v1/enrolments/{pseudonym}?email={CANARY['email']}"
               f"&name={CANARY['given_name']}")
    client.get(f"/api/v1/no-such-list?family_name={CANARY['family_name']}")
    text = json_log.getvalue()
    assert "request_finished" in text
    for value in canary_variants():
        assert value not in text, "identity value found in a log line"
    assert pseudonym not in text, "a path (with its pseudonym) found in a log line"


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_a_logged_traceback_shows_no_local_values(log_format: str) -> None:
    config = formatter_config(log_format)
    factory = config.pop("()")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(factory(**config))
    logger = logging.getLogger("tests.traceback")
    logger.addHandler(handler)
    try:
        identity = {"family_name": CANARY["family_name"]}
        try:
            raise ValueError("sealing failed")
        except ValueError:
            logger.exception("could not seal %s", type(identity).__name__)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "sealing failed" in text  # the traceback is there
    assert CANARY["family_name"] not in text


# --- /metrics --------------------------------------------------------------------------


def metric(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name + (f"{{{wanted}}}" if labels else "")) + r" (\S+)"
    found = re.search(r"^" + pattern + r"$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


@pytest.mark.parametrize("headers", [
    {"REMOTE_ADDR": "203.0.113.9"},
    {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"},
    {"REMOTE_ADDR": "127.0.0.1", "HTTP_FORWARDED": "for=203.0.113.9"},
])
def test_metrics_refuse_the_public(headers: dict[str, str]) -> None:
    response = Client().get("/metrics", **headers)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert b"escrow_" not in response.content


def test_with_a_token_metrics_need_it_from_everywhere(settings: Any) -> None:
    settings.ESCROW_METRICS_TOKEN = "scrape-token-0123456789abcdef"
    client = Client()
    assert client.get("/metrics").status_code == 403  # loopback alone is not enough
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    served = client.get("/metrics", REMOTE_ADDR="203.0.113.9",
                        HTTP_AUTHORIZATION="Bearer scrape-token-0123456789abcdef")
    assert served.status_code == 200


def test_metrics_count_enrolments_and_watch_the_log(platform_a: Any) -> None:
    scrape = Client()
    before = scrape.get("/metrics")
    assert before.status_code == 200
    assert before["Content-Type"].startswith("text/plain")
    created_before = metric(before.content.decode(), "escrow_enrolments_total",
                            outcome="created") or 0.0
    payload, key = identity_payload(), factories.idempotency_key()
    for _ in range(2):  # the second is a replay of the first
        assert platform_a.client.post("/api/v1/enrolments", payload, format="json",
                                      HTTP_IDEMPOTENCY_KEY=key).status_code == 201
    after = scrape.get("/metrics").content.decode()
    assert metric(after, "escrow_enrolments_total", outcome="created") == created_before + 1
    assert (metric(after, "escrow_enrolments_total", outcome="replayed") or 0) >= 1
    # The enrolment's audit event waits for the sequencer, and the backlog shows it.
    assert (metric(after, "escrow_log_sequencer_backlog_entries") or 0) >= 1
    assert metric(after, "escrow_releases_total", outcome="released") is not None
    assert metric(after, "escrow_webhook_deliveries_failing", state="abandoned") is not None
    # django-prometheus' own request metrics are there too.
    assert "django_http_requests_total_by_method_total" in after


# --- readiness -------------------------------------------------------------------------


@pytest.fixture
def with_redis(settings: Any) -> None:
    if not settings.REDIS_URL:
        pytest.skip("heartbeats are shared through Redis: set REDIS_URL")
    settings.CELERY_TASK_ALWAYS_EAGER = False  # a worker and beat are expected
    settings.ESCROW_HEARTBEAT_MAX_AGE_SECONDS = 60


def beat(component: str, *, seconds_ago: float) -> None:
    cache.set(f"heartbeat:{component}", time.time() - seconds_ago, timeout=3600)


def test_readiness_passes_with_fresh_heartbeats(with_redis: None) -> None:
    for component in ("sequencer", "worker", "beat"):
        beat(component, seconds_ago=5)
    response = Client().get("/healthz/ready")
    assert response.status_code == 200, response.json()
    # No ceremony has run in this test: nothing to seal to, but nothing wrong either.
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "sequencer": "ok",
                                         "worker": "ok", "beat": "ok", "escrow_key": "none"}


@pytest.mark.parametrize("component", ["sequencer", "worker", "beat"])
def test_readiness_fails_when_one_heartbeat_is_stale(with_redis: None, component: str) -> None:
    for name in ("sequencer", "worker", "beat"):
        beat(name, seconds_ago=61 if name == component else 5)
    response = Client().get("/healthz/ready")
    assert response.status_code == 503
    assert response.json()["checks"][component] == "stale"
    assert response.json()["heartbeat_age_seconds"][component] >= 61


def test_readiness_fails_when_a_process_never_reported(with_redis: None) -> None:
    beat("sequencer", seconds_ago=1)
    beat("beat", seconds_ago=1)
    response = Client().get("/healthz/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == "missing"


def test_the_sequencer_and_the_heartbeat_task_report(with_redis: None) -> None:
    from celery import current_app

    from escrow.jobs import HEARTBEAT_TASK, heartbeat_ages
    from escrow.log.services import LOG_SEQUENCE_TASK

    current_app.tasks[LOG_SEQUENCE_TASK].apply()
    current_app.tasks[HEARTBEAT_TASK].apply()
    ages = heartbeat_ages()
    for component in ("sequencer", "worker"):
        age = ages[component]
        assert age is not None
        assert age < 5


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # it closes connections
def test_the_sequencer_command_reports(with_redis: None) -> None:
    from django.core.management import call_command

    from escrow.jobs import heartbeat_ages

    call_command("log_sequencer", stdout=io.StringIO())
    age = heartbeat_ages()["sequencer"]
    assert age is not None
    assert age < 5


def test_liveness_stays_simple(with_redis: None) -> None:
    # No heartbeat at all: the process still answers, so it is not restarted for it.
    response = Client().get("/healthz/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# --- the request id in a Celery worker ---------------------------------------------------


@pytest.mark.slow
def test_a_task_logs_under_the_request_id_it_was_queued_with(settings: Any) -> None:
    import structlog
    from celery import current_app

    from escrow.jobs import HEARTBEAT_TASK
    from tests.release.conftest import celery_worker_started

    if not settings.REDIS_URL or settings.DATABASES["default"]["ENGINE"] != (
            "django.db.backends.postgresql"):
        pytest.skip("a real worker needs Redis and PostgreSQL: set REDIS_URL and DATABASE_URL")
    with celery_worker_started(name="request-id", env={"LOG_FORMAT": "json"},
                               ready_seconds=60) as worker:
        # What RequestIdMiddleware binds while a view queues a task.
        structlog.contextvars.bind_contextvars(request_id="req-into-task-42")
        try:
            sent = current_app.send_task(HEARTBEAT_TASK)
        finally:
            structlog.contextvars.clear_contextvars()

        def task_lines() -> list[dict[str, Any]]:
            found = []
            for line in list(worker.output):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("task_id") == sent.id:
                    found.append(record)
            return found

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
                r["event"] == "task_succeeded" for r in task_lines()):
            time.sleep(0.2)
        records = task_lines()
        assert {"task_started", "task_succeeded"} <= {r["event"] for r in records}, (
            "".join(worker.output[-40:]))
        assert all(r.get("request_id") == "req-into-task-42" for r in records)
