"""`make serve`: the production process set (Procfile) on this machine, end to end.

Starts web (gunicorn), the Celery worker and beat, and the log sequencer against a
PostgreSQL database of its own and the suite's Redis, on a free loopback port; waits
for readiness, enrols one identity over HTTP, sees the sequencer put its event under a
signed checkpoint, and stops everything as Ctrl-C would.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from psycopg import sql

from escrow.log.models import AuditEvent
from tests.processes import REPO, Started, database_url, free_loopback_port, wait_until

pytestmark = pytest.mark.slow

VENV = Path(sys.prefix)


def admin_connection() -> psycopg.Connection[Any]:
    db = settings.DATABASES["default"]
    return psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432,
                           user=db["USER"], password=db["PASSWORD"] or None,
                           dbname="postgres", autocommit=True)


@pytest.fixture
def serve_database_url() -> Iterator[str]:
    """A database of its own (the serve processes migrate it), dropped afterwards."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql" or not settings.REDIS_URL:
        pytest.skip("make serve runs on PostgreSQL and Redis")
    name = f"{db['NAME']}_serve"
    with admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(db, name=name)
    finally:
        with admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def http(method: str, url: str, *, key: str = "", body: Any = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method,  # noqa: S310 - loopback only
                                     data=json.dumps(body).encode() if body else None)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
        request.add_header("Idempotency-Key", uuid.uuid4().hex)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def tree_size(base: str) -> int:
    status, body = http("GET", f"{base}/log/checkpoint")
    # C2SP tlog-checkpoint: origin line, then the decimal tree size.
    return int(body.decode().splitlines()[1]) if status == 200 else -1


def events_recorded(url: str) -> int:
    with psycopg.connect(url) as conn:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(AuditEvent._meta.db_table))
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def test_make_serve_starts_the_process_set_enrols_and_stops_cleanly(
    serve_database_url: str, tmp_path: Path
) -> None:
    port = free_loopback_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "DATABASE_URL": serve_database_url, "REDIS_URL": settings.REDIS_URL,
        "HOST": "127.0.0.1", "PORT": str(port), "GUNICORN_WORKERS": "2",
        "STATIC_ROOT": str(tmp_path / "static"),
        "CELERY_BEAT_SCHEDULE_FILENAME": str(tmp_path / "celerybeat-schedule"),
        "CACHE_KEY_PREFIX": f"serve-{uuid.uuid4().hex[:8]}",
        # Beat's own sequencing task stays out of the way, so that what puts the
        # enrolment under a checkpoint is the sequencer process.
        "ESCROW_LOG_SEQUENCE_INTERVAL": "3600",
    }
    serve = Started(["make", "--no-print-directory", "-o", f"{VENV}/.installed",
                     f"VENV={VENV}", "serve"], env=env)
    try:
        wait_until(lambda: http("GET", f"{base}/healthz/ready")[0] == 200, timeout=180,
                   what=f"readiness on {base}:\n{serve.text[-3000:]}")
        for process in ("web.1", "worker.1", "beat.1", "sequencer.1"):
            assert f"{process} started" in serve.text
        serve.wait_for("sequencer.1 | log sequencer: leading", timeout=30)

        # A platform with its key and an escrow key (the demo's set-up command).
        subprocess.run(  # noqa: S603 - the project's own command
            [sys.executable, "manage.py", "demo_setup", "--out", str(tmp_path / "demo"),
             "--base-url", base],
            env={**os.environ, **env}, cwd=REPO, check=True, capture_output=True,
        )
        before = wait_until(
            lambda: (size := tree_size(base)) == events_recorded(serve_database_url) and size,
            timeout=30, what="the set-up events sequenced",
        )
        credentials = json.loads((tmp_path / "demo" / "credentials.json").read_text())
        status, body = http("POST", f"{base}/api/v1/enrolments",
                            key=credentials["platform"]["api_key"], body={
            "identity": {"given_name": "Ada", "family_name": "Lovelace",
                         "date_of_birth": "1985-12-10", "email": "ada@example.org"},
            "evidence": {"provider": "demo-idv", "reference": "chk-1",
                         "assurance_level": "high", "verified_at": "2026-11-01T10:00:00Z"},
        })
        assert status == 201, body
        assert json.loads(body)["pseudonym"].startswith("PSN-")

        after = wait_until(
            lambda: (size := tree_size(base)) == events_recorded(serve_database_url)
            and size > before and size,
            timeout=30, what="the enrolment sequenced",
        )
        sequenced = f"log sequenced {after - before} entries; tree size {after}"
        wait_until(lambda: any("sequencer.1 " in line and sequenced in line
                               for line in serve.output),
                   timeout=10, what=f"the sequencer process saying {sequenced!r}")
    finally:
        returncode = serve.stop(signal.SIGINT, timeout=60)

    # Ctrl-C ends make by SIGINT once honcho has stopped every process, each by itself.
    assert returncode in (0, -signal.SIGINT), serve.text[-3000:]
    for process in ("web.1", "worker.1", "beat.1", "sequencer.1"):
        assert f"{process} stopped (rc=0)" in serve.text, serve.text[-3000:]
    # Honcho starts each process in a process group of its own: none is left.
    groups = [int(pid) for pid in re.findall(r"sending SIGTERM to \S+ \(pid (\d+)\)", serve.text)]
    assert len(groups) == 4
    for group in [serve.process.pid, *groups]:
        with pytest.raises(ProcessLookupError):
            os.killpg(group, 0)
    assert http("GET", f"{base}/healthz/live")[0] == 0
