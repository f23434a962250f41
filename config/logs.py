"""Structured logs (structlog): one JSON object a line in production, key=value pairs on
a terminal, each with the request id of the request or task that wrote it.

Our modules keep logging through the standard library; structlog's `ProcessorFormatter`
renders those records and structlog's own (django-structlog's task events) alike, and
adds whatever is bound in the context: `request_id` (escrow/api/request_id.py) and, in a
Celery worker, `task_id` and the `request_id` carried from the request that queued it.

What is logged never includes request bodies, query strings or identity values: the
request line names the URL pattern, not the path (which can hold a pseudonym).
"""

from __future__ import annotations

from typing import Any

import structlog
import structlog.tracebacks

LOG_FORMATS = ("json", "console")

# Applied to every record, from structlog or the standard library.
_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def structlog_configure() -> None:
    """Route structlog's loggers through the standard library's handlers."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def formatter_config(log_format: str) -> dict[str, Any]:
    """The `logging.config` formatter entry for `json` or `console` output."""
    # Tracebacks without the frames' local variables (both renderers show them by
    # default): a local can hold an identity being sealed.
    if log_format == "json":
        renderer: Any = structlog.processors.JSONRenderer()
        tracebacks: list[Any] = [structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False))]
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback)
        tracebacks = []
    return {
        "()": structlog.stdlib.ProcessorFormatter,
        "foreign_pre_chain": _SHARED_PROCESSORS,
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *tracebacks,
            renderer,
        ],
    }


def logging_config(*, level: str, log_format: str) -> dict[str, Any]:
    """Django's LOGGING: every logger to one console handler in the chosen format."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": formatter_config(log_format)},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "structured"},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
            # django-axes logs every failed sign-in; a password flood would flood the logs.
            # Lockouts are in the audit log (accounts/sign_in_limits.py).
            "axes": {"handlers": ["console"], "level": "ERROR", "propagate": False},
            # runserver's access line carries the path and query string (a pseudonym, a
            # search term); ours (`request_finished`) names the route and the request id.
            "django.server": {"handlers": ["console"], "level": "CRITICAL",
                              "propagate": False},
        },
    }
