"""Settings, read from the environment only (django-environ).

`ESCROW_ENV=production` turns every development default off: each mandatory secret
must then come from the environment, or start-up fails naming the variable.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.logs import LOG_FORMATS, logging_config, structlog_configure

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
ESCROW_ENV = env.str("ESCROW_ENV", default="development")
if ESCROW_ENV not in {"development", "production"}:
    raise ImproperlyConfigured("ESCROW_ENV must be 'development' or 'production'")
PRODUCTION = ESCROW_ENV == "production"

# Visibly unsafe development defaults: never valid in production, where each of these
# variables is mandatory.
_DEV_DEFAULTS = {
    "SECRET_KEY": "dev-insecure-django-secret-key-do-not-use-in-production",
    "ESCROW_SERVICE_SECRET": "dev-insecure-service-secret-do-not-use-in-production",
    "ESCROW_TOTP_SEED_KEY": "dev-insecure-totp-seed-key-do-not-use-in-production",
    # The audit log's name and its Ed25519 signed-note key (C2SP tlog-checkpoint).
    # This key is public, so checkpoints signed with it prove nothing.
    "ESCROW_LOG_ORIGIN": "dev-insecure.escrow.invalid/log",
    "ESCROW_LOG_SIGNING_KEY": (
        "PRIVATE+KEY+dev-insecure.escrow.invalid/log+f579fc56+"
        "AY979MMzlZnkNyULmtdlPi8HD81TmQ6Rd9csE/8Nl/Rc"
    ),
}


def _secret(name: str) -> str:
    if PRODUCTION:
        value = env.str(name, default="")
        if not value:
            raise ImproperlyConfigured(f"{name} must be set when ESCROW_ENV=production")
        return value
    return env.str(name, default=_DEV_DEFAULTS[name])


SECRET_KEY = _secret("SECRET_KEY")
# Root of the per-platform pseudonym and blind-index keys and the sealed-detail key.
ESCROW_SERVICE_SECRET = _secret("ESCROW_SERVICE_SECRET")
# Later versions of the pseudonym and blind-index secrets ("2=<secret>,3=<secret>"); version 1
# is ESCROW_SERVICE_SECRET. See docs/operations.md ("Rotating the service secrets").
ESCROW_SECRET_VERSIONS = env.str("ESCROW_SECRET_VERSIONS", default="")
# The version whose pseudonym key new enrolments use; earlier pseudonyms never change.
ESCROW_PSEUDONYM_SECRET_VERSION = env.int("ESCROW_PSEUDONYM_SECRET_VERSION", default=1)
# Seals staff TOTP seeds at rest (accounts.totp_seeds); kept apart from the database.
ESCROW_TOTP_SEED_KEY = _secret("ESCROW_TOTP_SEED_KEY")

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "pgtrigger",
    # Sign-in lockouts per account and per client address (docs/reliability.md).
    "axes",
    # Request metrics (/metrics, docs/operations.md) and the request id carried into
    # Celery tasks (config/logs.py).
    "django_prometheus",
    "django_structlog",
    # Lowest layer first (docs/architecture.md).
    "escrow.log",
    "accounts",
    "escrow.vault",
    "legal_requests",
    # The staff console (/console/): pages over the same services as the API.
    "console",
]

MIDDLEWARE = [
    # Outermost: the request's latency and status are counted, and its id is returned,
    # whatever the layers below answer.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "escrow.api.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Bounds /api/ and /log/ request bodies before anything reads them (413 problem),
    # and answers a dependency outage in a view outside DRF with its 503 problem.
    "escrow.api.middleware.ApiEdgeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks; API sign-in answers its lockouts itself (problem+json).
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
# Off by default: the check is a SELECT 1 round trip at the start of every request.
# Django still drops a connection that errored, so a database restart costs one failed
# request per worker at most.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DB_CONN_HEALTH_CHECKS", default=False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The log sequencer never passes the oldest open write transaction, so one left
    # idle would stall sequencing (and every release waiting on a checkpoint).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        "-c idle_in_transaction_session_timeout="
        f"{env.int('DB_IDLE_IN_TRANSACTION_TIMEOUT_MS', default=60_000)}"
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the in-process task runner write beside web requests.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if PRODUCTION and not REDIS_URL:
    raise ImproperlyConfigured("REDIS_URL must be set when ESCROW_ENV=production")

if REDIS_URL:
    # Rate limits and other shared counters must be shared across processes.
    CACHES = {
        "default": {
            # django-redis keeps one client per process; Django's own Redis backend
            # builds a new client object on every call, which costs more than the call.
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="escrow"),
            # Bounded waits: an unreachable Redis must fail a call quickly, not hang a
            # worker (the throttle then fails open; docs/reliability.md).
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_SOCKET_TIMEOUT", default=2.0),
                "SOCKET_TIMEOUT": env.float("REDIS_SOCKET_TIMEOUT", default=2.0),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis as broker; with no broker (the demo) tasks run in-process.
# The in-memory broker's URL names a host, or kombu warns on every task queued.
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# Workers and beat log through LOGGING (structured, with the request id), not Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
DJANGO_STRUCTLOG_CELERY_ENABLED = True
# Beat's record of when each task last ran: somewhere the beat process may write (a
# container's application directory is read-only to its user).
CELERY_BEAT_SCHEDULE_FILENAME = env.str(
    "CELERY_BEAT_SCHEDULE_FILENAME", default=str(BASE_DIR / "celerybeat-schedule")
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Privileged staff passwords only through the two-administrator reset; any other
    # password set outside the audited services is logged (accounts/passwords.py).
    {"NAME": "accounts.passwords.TwoAdministratorPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "accounts.authentication.StaffTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # One strict JSON parser and one negotiation (docs/reliability.md, "One error contract").
    "DEFAULT_PARSER_CLASSES": ["escrow.api.parsers.StrictJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "escrow.api.negotiation.EscrowContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "escrow.api.schema.EscrowAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "escrow.api.pagination.LinkHeaderCursorPagination",
    "EXCEPTION_HANDLER": "escrow.api.problems.problem_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.CredentialRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "credential": env.str("API_RATE_LIMIT", default="6000/min"),
        "auth": env.str("AUTH_RATE_LIMIT", default="10/min"),
    },
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Identity Escrow API",
    "DESCRIPTION": (
        "Platforms enrol verified identities and receive per-platform pseudonyms; "
        "identities are released only through an audited, warrant-gated, threshold workflow."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Swagger UI's assets are served from this service, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "escrow.api.schema.add_problem_responses",
        "escrow.api.schema.add_http_headers",
    ],
}

# The verifiable audit log (escrow/log/, docs/audit-log.md).
ESCROW_LOG_ORIGIN = _secret("ESCROW_LOG_ORIGIN")
# A C2SP signed-note signer key: PRIVATE+KEY+<name>+<key id>+<base64>.
ESCROW_LOG_SIGNING_KEY = _secret("ESCROW_LOG_SIGNING_KEY")
# Witnesses whose C2SP tlog-cosignatures the log accepts: verifier keys, comma-separated.
ESCROW_LOG_WITNESS_KEYS = env.list("ESCROW_LOG_WITNESS_KEYS", default=[])
# Entry bundles carry no personal data, but an operator may keep them to auditors.
ESCROW_LOG_ENTRIES_AUDITORS_ONLY = env.bool("ESCROW_LOG_ENTRIES_AUDITORS_ONLY", default=False)
ESCROW_LOG_BATCH_SIZE = env.int("ESCROW_LOG_BATCH_SIZE", default=10_000)
ESCROW_LOG_SEQUENCE_INTERVAL = env.float("ESCROW_LOG_SEQUENCE_INTERVAL", default=2.0)

CELERY_BEAT_SCHEDULE = {
    # Beat and the workers report through it; readiness checks how long ago (config/health.py).
    "heartbeat": {
        "task": "escrow.heartbeat",
        "schedule": 10.0,
        "options": {"expires": 20},
    },
    "log-sequence": {
        "task": "escrow.log.tasks.log_sequence_task",
        "schedule": ESCROW_LOG_SEQUENCE_INTERVAL,
        "options": {"expires": ESCROW_LOG_SEQUENCE_INTERVAL * 5},
    },
    # Disclosure workflow deadlines (legal_requests/tasks.py); each run is idempotent.
    "disclosure-expire-due": {
        "task": "legal_requests.expire_due_requests",
        "schedule": 300.0,
        "options": {"expires": 600},
    },
    "disclosure-escalate-overdue-reviews": {
        "task": "legal_requests.escalate_overdue_reviews",
        "schedule": 600.0,
        "options": {"expires": 1200},
    },
    # The release (legal_requests/tasks.py): platform webhooks due, stalled
    # releases retried, lapsed single-use package downloads deleted. Each is idempotent.
    "release-webhooks-send-due": {
        "task": "legal_requests.webhooks_send_due",
        "schedule": 30.0,
        "options": {"expires": 60},
    },
    # Also ends orphaned release commits: with RELEASE_OUTCOME_DEADLINE_SECONDS (90 s),
    # every release_committed event has its outcome within 150 s (docs/reliability.md).
    "release-resume-stalled": {
        "task": "legal_requests.release_resume_stalled",
        "schedule": 60.0,
        "options": {"expires": 120},
    },
    # The mail outbox (legal_requests/services/mail.py): messages due for another attempt.
    "mail-send-due": {
        "task": "legal_requests.mail_send_due",
        "schedule": 30.0,
        "options": {"expires": 60},
    },
    "release-downloads-purge-expired": {
        "task": "legal_requests.release_downloads_purge_expired",
        "schedule": 600.0,
        "options": {"expires": 1200},
    },
    "requests-close-completed": {
        "task": "legal_requests.requests_close_completed",
        "schedule": 900.0,
        "options": {"expires": 1800},
    },
    # Sign-in failure windows that closed get their one summary event (accounts/tasks.py).
    "sign-in-failures-report": {
        "task": "accounts.sign_in_failures_report",
        "schedule": 60.0,
        "options": {"expires": 120},
    },
    # The staff outbox (accounts/services_staff.py): reset and account notices due again.
    "staff-mails-send-due": {
        "task": "accounts.staff_mails_send_due",
        "schedule": 60.0,
        "options": {"expires": 120},
    },
}

# Readiness (config/health.py) fails when the log sequencer, a Celery worker or beat has
# not reported for this long; beat sends its heartbeat task every 10 s, the sequencer
# reports after every run (every ESCROW_LOG_SEQUENCE_INTERVAL). 0 turns the check off.
ESCROW_HEARTBEAT_MAX_AGE_SECONDS = env.int("ESCROW_HEARTBEAT_MAX_AGE_SECONDS", default=60)
# /metrics (config/metrics.py): with a token, only `Authorization: Bearer <token>`;
# without one, only direct loopback connections (no proxy header).
ESCROW_METRICS_TOKEN = env.str("ESCROW_METRICS_TOKEN", default="")

# Threshold release (docs/release.md). The URL is the one agencies are sent to fetch a
# package; the release fails closed if the log cannot checkpoint it within the wait.
# In development it follows PORT, as `make demo` does, so links work on any port.
ESCROW_PUBLIC_URL = env.str(
    "ESCROW_PUBLIC_URL",
    default="http://127.0.0.1:8000" if PRODUCTION else f"http://127.0.0.1:{env.int('PORT', 8000)}",
)
RELEASE_LOG_WAIT_SECONDS = env.float("RELEASE_LOG_WAIT_SECONDS", default=30.0)
PACKAGE_DOWNLOAD_TTL_SECONDS = env.int("PACKAGE_DOWNLOAD_TTL_SECONDS", default=24 * 3600)
# No orphan events: a release_committed event without an outcome this long is aborted
# (worker_lost) by the next recovery scan; recovery gives up, and says so, after
# RELEASE_MAX_ATTEMPTS failed attempts (docs/reliability.md).
RELEASE_OUTCOME_DEADLINE_SECONDS = env.int("RELEASE_OUTCOME_DEADLINE_SECONDS", default=90)
RELEASE_MAX_ATTEMPTS = env.int("RELEASE_MAX_ATTEMPTS", default=24)
# The mail outbox: attempts before a message is dead-lettered (logged, shown to staff).
MAIL_MAX_ATTEMPTS = env.int("MAIL_MAX_ATTEMPTS", default=8)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=15)
# After a platform rotates its webhook signing secret, deliveries carry a signature with
# the old secret too for this long, unless the rotation names its own overlap (up to 7 days).
WEBHOOK_SECRET_OVERLAP_SECONDS = env.int("WEBHOOK_SECRET_OVERLAP_SECONDS", default=24 * 3600)
# Plain-http endpoints on 127.0.0.1/localhost, for the demo's local receiver and tests.
# Anywhere else an endpoint must be https at a public address.
WEBHOOK_ALLOW_HTTP_LOOPBACK = env.bool("WEBHOOK_ALLOW_HTTP_LOOPBACK", default=not PRODUCTION)
if PRODUCTION and WEBHOOK_ALLOW_HTTP_LOOPBACK:
    raise ImproperlyConfigured("WEBHOOK_ALLOW_HTTP_LOOPBACK must be off when ESCROW_ENV=production")

# Staff API tokens are short-lived by design: a stolen token ages out quickly.
STAFF_TOKEN_TTL_SECONDS = env.int("STAFF_TOKEN_TTL_SECONDS", default=8 * 3600)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Identity Escrow")

# The client address (docs/operations.md): with no trusted proxy in front, REMOTE_ADDR
# and X-Forwarded-For is ignored (any client can write it); behind N proxies, each of
# which appends the address it received from, the Nth entry from the right.
ESCROW_TRUSTED_PROXY_COUNT = env.int("ESCROW_TRUSTED_PROXY_COUNT", default=0)

# Sign-in limits (docs/reliability.md), enforced by django-axes in the database (so they
# hold while Redis is down): SIGN_IN_FAILURE_LIMIT failures for one username, or from
# one client address, lock it out for SIGN_IN_LOCKOUT_SECONDS after the last of them.
SIGN_IN_FAILURE_LIMIT = env.int("SIGN_IN_FAILURE_LIMIT", default=10)
SIGN_IN_LOCKOUT_SECONDS = env.int("SIGN_IN_LOCKOUT_SECONDS", default=900)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = SIGN_IN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=SIGN_IN_LOCKOUT_SECONDS)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "accounts.client_address.client_address"
# Attempted usernames (personal data, sometimes a password typed in the wrong box) are
# stored and compared only as keyed digests.
AXES_USERNAME_CALLABLE = "accounts.sign_in_limits.account_key"
AXES_LOCKOUT_CALLABLE = "accounts.sign_in_limits.lockout_response"
# Attempts refused during a lockout do not restart it, so Retry-After holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = False
AXES_DISABLE_ACCESS_LOG = True  # successes are in the audit log already
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False
# How often a process repeats its warning that Redis is unreachable, and the Retry-After
# of a 503 answered for that reason.
ESCROW_DEGRADED_WARNING_SECONDS = env.int("ESCROW_DEGRADED_WARNING_SECONDS", default=60)
ESCROW_DEPENDENCY_RETRY_AFTER_SECONDS = env.int("ESCROW_DEPENDENCY_RETRY_AFTER_SECONDS", default=30)

SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
# In production every request arrives over HTTPS (the proxy says so in X-Forwarded-Proto);
# a plain-HTTP one is redirected, except the health probes a load balancer sends and the
# metrics scrape (both usually from inside the network).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz/", r"^metrics$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
# Preloading commits the whole domain to HTTPS in browsers for good: the operator's call,
# off by default; `check --deploy` is told so rather than left to warn.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): scripts and styles only from our own static
# files, so no inline script or style attribute runs; the console's JavaScript is
# vendored (`make vendor`), never from a CDN. The API docs page (Swagger UI) boots with
# an inline script and is left out.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/docs/"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    },
}

# The staff console (console/): a signed-in session ends after this many seconds
# without a console request, and the next page asks to sign in again.
CONSOLE_IDLE_TIMEOUT_SECONDS = env.int("CONSOLE_IDLE_TIMEOUT_SECONDS", default=15 * 60)

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default=(
        "django.core.mail.backends.smtp.EmailBackend"
        if PRODUCTION
        else "django.core.mail.backends.console.EmailBackend"
    ),
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="escrow@localhost")

# Disclosure workflow (docs/disclosure-workflow.md).
# Legal documents arrive base64-encoded in JSON, so the body limit sits above the
# document limit (4/3 of it plus room for the rest of the request).
DISCLOSURE_DOCUMENT_MAX_BYTES = env.int("DISCLOSURE_DOCUMENT_MAX_BYTES", default=10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = DISCLOSURE_DOCUMENT_MAX_BYTES * 4 // 3 + 1024 * 1024
# The API's bounds (escrow/api/parsers.py, escrow/api/middleware.py): a longer body under
# /api/ or /log/ is a 413 problem, deeper JSON a 400 (docs/reliability.md).
API_MAX_BODY_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=32)
# Lists page with cursors and Link headers (escrow/api/pagination.py, docs/api.md):
# ?page_size= takes 1 to API_PAGE_SIZE_MAX items, API_PAGE_SIZE when not given.
API_PAGE_SIZE = env.int("API_PAGE_SIZE", default=200)
API_PAGE_SIZE_MAX = env.int("API_PAGE_SIZE_MAX", default=500)
# Under /api/ and /log/ a CSRF failure is a problem document; elsewhere Django's page.
CSRF_FAILURE_VIEW = "escrow.api.problems.csrf_failure"
DISCLOSURE_EMERGENCY_REVIEW_HOURS = env.int("DISCLOSURE_EMERGENCY_REVIEW_HOURS", default=48)
LEGAL_HOLD_DAYS = env.int("LEGAL_HOLD_DAYS", default=90)
# Transparency reports are public unless the operator restricts them to auditors.
TRANSPARENCY_REPORTS_PUBLIC = env.bool("TRANSPARENCY_REPORTS_PUBLIC", default=True)
TRANSPARENCY_REPORT_CACHE_SECONDS = env.int("TRANSPARENCY_REPORT_CACHE_SECONDS", default=300)

# Structured logs (config/logs.py, docs/operations.md): identifiers, event types and the
# request id, never request bodies, query strings or identity values.
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "console")
if LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
LOGGING = logging_config(level=env.str("LOG_LEVEL", default="INFO"), log_format=LOG_FORMAT)
structlog_configure()
