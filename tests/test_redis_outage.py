"""When Redis is down: the rate limits fail open (enrolment and sign-in keep working),
whatever truly needs Redis answers a 503 problem with Retry-After, and nothing answers 500.

Against a throwaway redis-server of the test's own on a free port, killed mid-test
(never the shared one).
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.test import RequestFactory
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.degraded import degraded_warnings_reset
from accounts.roles import Role
from escrow.api.middleware import ApiEdgeMiddleware
from escrow.vault.models import Enrolment
from tests import factories
from tests.factories import identity_payload

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.redis,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def own_redis() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",  # noqa: S607
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url, socket_timeout=0.2).ping()
            break
        except redis.RedisError:
            time.sleep(0.05)
    try:
        yield server, url
    finally:
        server.kill()
        server.wait(timeout=10)


@pytest.fixture
def cache_on_own_redis(settings: Any, own_redis: Any) -> subprocess.Popen[bytes]:
    server, url = own_redis
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "outage-test",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    degraded_warnings_reset()
    return server  # type: ignore[no-any-return]


def enrol(client: APIClient) -> Any:
    return client.post("/api/v1/enrolments", identity_payload(), format="json",
                       HTTP_IDEMPOTENCY_KEY=factories.idempotency_key())


def current_code(user: Any) -> str:
    device = TOTPDevice.objects.get(user=user)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_with_redis_down_enrolment_and_sign_in_keep_working_and_nothing_answers_500(
    platform_a: Any, cache_on_own_redis: subprocess.Popen[bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert enrol(platform_a.client).status_code == 201  # Redis up: counted as usual
    cache_on_own_redis.kill()
    cache_on_own_redis.wait(timeout=10)

    with caplog.at_level(logging.WARNING, logger="escrow.degraded"):
        responses = [enrol(platform_a.client) for _ in range(5)]
        hank = factories.staff("hank", Role.APPROVER)
        signed_in = APIClient().post(
            "/api/v1/auth/token",
            {"username": "hank", "password": "correct horse battery",
             "otp_code": current_code(hank)},
            format="json",
        )
        report = APIClient().get("/api/v1/transparency-reports")

    assert [r.status_code for r in responses] == [201] * 5
    assert Enrolment.objects.count() == 6
    assert signed_in.status_code == 201, signed_in.content
    # The transparency report is cached in Redis: it answers 503 cleanly (or 200, should
    # it stop depending on the cache).
    assert report.status_code in (200, 503), report.content
    if report.status_code == 503:
        assert report["Content-Type"].startswith("application/problem+json")
        assert report.json()["code"] == "dependency_unavailable"
        assert int(report["Retry-After"]) >= 1
        assert b"127.0.0.1" not in report.content
    suspended = [r for r in caplog.records if "rate limits suspended" in r.getMessage()]
    assert len(suspended) == 1  # once per interval, not once per request


def test_a_redis_error_outside_the_api_views_is_a_503_problem_with_retry_after() -> None:
    def view(request: Any) -> Any:
        raise redis.exceptions.ConnectionError("Error 111 connecting to 10.1.2.3:6379.")

    middleware = ApiEdgeMiddleware(view)
    request = RequestFactory().get("/log/checkpoint")
    response = middleware.process_exception(request, redis.exceptions.ConnectionError("x"))
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert int(response["Retry-After"]) >= 1
    assert b"10.1.2.3" not in response.content
