"""Suite-wide set-up: real services where the paths depend on them, named actors."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

# A small, fixed profile for mutation runs (`make mutation`, tests/mutation.py): the same
# examples every run, no example database, so a mutant's verdict does not depend on luck.
hypothesis_settings.register_profile(
    "mutation", max_examples=10, derandomize=True, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def pytest_sessionstart(session: pytest.Session) -> None:
    # In CI the suite must run against the real PostgreSQL and Redis, never silently
    # fall back to SQLite and an in-memory broker.
    if os.environ.get("CI") == "true":
        missing = []
        if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
            missing.append("PostgreSQL (DATABASE_URL)")
        if not settings.REDIS_URL:
            missing.append("Redis (REDIS_URL)")
        if missing:
            pytest.exit(f"CI=true but not configured: {', '.join(missing)}", returncode=3)
        import psycopg
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
        except redis.RedisError as exc:
            pytest.exit(f"CI=true but Redis does not answer: {type(exc).__name__}", returncode=3)
        db = settings.DATABASES["default"]
        try:
            psycopg.connect(
                host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"],
                password=db["PASSWORD"] or None, dbname="postgres", connect_timeout=3,
            ).close()
        except psycopg.Error as exc:
            pytest.exit(f"CI=true but PostgreSQL does not answer: {type(exc).__name__}",
                        returncode=3)


# --- shared fixtures -------------------------------------------------------------

from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

from rest_framework.test import APIClient  # noqa: E402

from tests import factories  # noqa: E402


@dataclass
class PlatformClient:
    platform: Any
    api_key: str
    client: APIClient


@pytest.fixture
def escrow_keypair(db: Any) -> factories.EscrowKeyPair:
    return factories.escrow_key_active(threshold=3, custodians=5)


@pytest.fixture
def platform_a(db: Any, escrow_keypair: Any) -> PlatformClient:
    return _platform_client("Platform A")


@pytest.fixture
def platform_b(db: Any, escrow_keypair: Any) -> PlatformClient:
    return _platform_client("Platform B")


def _platform_client(name: str) -> PlatformClient:
    platform, key = factories.platform_with_key(name=name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return PlatformClient(platform=platform, api_key=key, client=client)


@pytest.fixture(autouse=True)
def _fresh_caches(settings: Any) -> Any:
    from django.core.cache import cache

    from accounts.authentication import verified_keys_forget
    from escrow.vault.selectors import escrow_key_cache_clear

    if "KEY_PREFIX" in settings.CACHES["default"]:
        # Each xdist worker keeps to its own keys, and clearing deletes only those:
        # django-redis' clear() would FLUSHDB everyone else's keys on a shared Redis.
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        settings.CACHES = {
            "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{worker}"}
        }
        cache.delete_pattern("*")
    else:
        cache.clear()
    escrow_key_cache_clear()
    # A test that restores serialized rows can bring back an earlier credential generation.
    verified_keys_forget()
    yield
    escrow_key_cache_clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # PBKDF2's deliberate cost is the point in production and only noise in tests.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def on_postgresql() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"



@pytest.fixture(scope="session")
def schema() -> dict[str, Any]:
    """The generated OpenAPI document, built once for the schema tests."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture
def caller_credentials(escrow_keypair: Any) -> dict[str, str | None]:
    """A bearer secret for every kind of caller (None for anonymous)."""
    from datetime import timedelta

    from django.utils import timezone
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import ApiCredential, StaffToken
    from accounts.roles import Role
    from accounts.services import credential_revoke, staff_sign_in

    _, platform_key = factories.platform_with_key(name="Matrix platform")
    _, agency_key = factories.agency_with_key()
    _, revoked_key = factories.platform_with_key(name="Revoked platform")
    credential_revoke(credential=ApiCredential.objects.get(platform__name="Revoked platform"))

    def token(username: str, role: Role) -> str:
        user = factories.staff(username, role)
        device = TOTPDevice.objects.get(user=user)
        return staff_sign_in(username=username, password="correct horse battery",
                             otp_code=f"{totp(device.bin_key):06d}").secret

    found: dict[str, str | None] = {"anonymous": None, "platform": platform_key,
                                    "agency": agency_key, "revoked_key": revoked_key}
    for role in factories.STAFF_KINDS:
        found[role] = token(f"matrix-{role}", Role(role))
    found["expired_token"] = token("matrix-expired", Role.APPROVER)
    found["revoked_token"] = token("matrix-revoked", Role.APPROVER)
    StaffToken.objects.filter(user__username="matrix-expired").update(
        expires_at=timezone.now() - timedelta(seconds=1))
    StaffToken.objects.filter(user__username="matrix-revoked").update(revoked_at=timezone.now())
    return found


# --- browser tests ---------------------------------------------------------------

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Where a failing browser test leaves a screenshot of its page (CI keeps the folder).
BROWSER_FAILURE_DIR = os.environ.get("BROWSER_FAILURE_DIR", "test-results/browser")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)  # read by browser_page on teardown
    return report


@pytest.fixture
def browser_page(request: pytest.FixtureRequest) -> Any:
    """A page in headless Chromium (Debian's package, no browser download).

    If the test fails, the page's screenshot is saved under BROWSER_FAILURE_DIR.
    """
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Chromium is not installed (Debian package chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # test makes around it are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        try:
            yield page
        finally:
            report = getattr(request.node, "report_call", None)
            if report is not None and report.failed:
                os.makedirs(BROWSER_FAILURE_DIR, exist_ok=True)
                path = os.path.join(BROWSER_FAILURE_DIR, f"{request.node.name}.png")
                page.screenshot(path=path, full_page=True)
                print(f"screenshot of the failing page: {path}")
            browser.close()
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
