"""The fault run under load (bench/faults.py), short and bounded: while enrolments and a
release run, a gunicorn worker and the Celery worker are SIGKILLed, Redis is stopped and
started and PostgreSQL restarted, all of them the run's own servers on loopback ports
(never the shared ones). Nothing answered 201 is lost, the log has no gap and verifies,
each webhook arrives exactly once and the service answers within 10 s of each restart."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        any(shutil.which(p) is None for p in ("initdb", "pg_ctl", "redis-server")),
        reason="needs initdb, pg_ctl and redis-server on PATH for servers of its own",
    ),
]

ROOT = Path(__file__).resolve().parents[1]
RUN_SECONDS = 360  # the whole run, set-up and checks included: about 2.5 to 3.5 minutes here


def test_nothing_is_lost_and_the_service_recovers_under_faults_and_load(tmp_path: Path) -> None:
    figures = tmp_path / "faults.json"
    done = subprocess.run(  # noqa: S603 - the project's own bench
        [sys.executable, str(ROOT / "bench/faults.py"), "--pause", "3", "--outage", "3",
         "--targets", "3", "--json", str(figures)],
        capture_output=True, text=True, timeout=RUN_SECONDS, cwd=ROOT, check=False,
    )
    assert figures.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(figures.read_text())
    print(done.stdout)

    assert report["statuses"].get("201", 0) > 0
    assert report["enrolments"]["lost"] == 0
    # A client that got no 201 and retries with the same Idempotency-Key gets its
    # enrolment: the one stored before the answer was lost, with the same pseudonym.
    retries = report["retries"]
    assert retries["answers"] == ({"201": retries["retried"]} if retries["retried"] else {})
    assert retries["stored_and_replayed_with_its_pseudonym"] == retries["stored_without_a_201"]
    assert report["enrolments"]["checked"] == report["statuses"]["201"] + 3 + retries["retried"]
    assert "500" not in report["statuses"]
    assert [f["name"].split(" (")[0] for f in report["faults"]] == [
        "SIGKILL one gunicorn worker", "SIGKILL the Celery worker, start another",
        "restart PostgreSQL: pg_ctl restart -m fast", "stop Redis, start it again"]
    for fault in report["faults"]:
        assert fault["ready_seconds"] <= 10, fault
    # The worker died with the release committed and waiting for the log, and PostgreSQL
    # restarted while the platform held a webhook not yet answered.
    assert report["faults"][1]["name"].endswith("(mid-release)")
    assert report["faults"][2]["name"].endswith("(a webhook in flight)")
    # While Redis is down, enrolment keeps working (the rate limit fails open).
    assert report["faults"][3]["not_201_while_down"] == {}

    assert report["log"]["gap"] is False
    assert report["log"]["enrolments_unlogged"] == 0
    assert report["log"]["audit_verify_ok"], report["log"]["audit_verify"]

    hooks = report["webhooks"]
    assert hooks["expected"] == 3
    assert (hooks["distinct"], hooks["duplicates"], hooks["missing"]) == (3, 0, 0)
    assert hooks["unexpected"] == hooks["bad_signature"] == 0

    assert report["release"]["state"] == "released"
    assert report["release"]["package_opened"] is True
    assert report["release"]["story"] == [
        "disclosure.release_started", "disclosure.release_committed",
        "disclosure.release_aborted", "disclosure.release_committed", "disclosure.released"]
    assert report["unexpected_exits"] == []
    assert report["failures"] == []
    assert done.returncode == 0, done.stdout[-3000:]
