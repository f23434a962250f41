"""Enrolment throughput and latency under gunicorn on PostgreSQL, over loopback.

Drives POST /api/v1/enrolments with wrk next to a bare DRF endpoint that does one
INSERT, interleaved in the same run so machine noise hits both alike, and prints
requests/s, p50/p99 latency, the ratio, and the CPU each request cost the web workers,
PostgreSQL and Redis (from /proc). Also counts database round trips per signup.

    .venv/bin/python bench/enrol/run.py [--duration 15] [--connections 16] [--rounds 2]
    .venv/bin/python bench/enrol/run.py --phases [--signups 300] [--profile]

`--phases` times each phase of a signup in-process instead (bench/enrol/phases.py).
Needs PostgreSQL and Redis on 127.0.0.1 and `wrk` (Debian package wrk). Figures, before
and after the signup work, are in docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

BENCH_DB = "escrow_bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_database(pg_url: str, name: str = BENCH_DB) -> str:
    """(Re)create database `name` on the server of `pg_url`; return its URL."""
    import psycopg

    admin = psycopg.connect(pg_url.rsplit("/", 1)[0] + "/postgres", autocommit=True)
    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.execute(f"CREATE DATABASE {name}")
    admin.close()
    return pg_url.rsplit("/", 1)[0] + "/" + name


def setup_service() -> tuple[str, int]:
    """Migrate, create a platform, its key and an escrow key; count queries per signup."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from accounts.services import credential_create, platform_create
    from escrow.crypto.threshold import ceremony_run
    from escrow.log.events import Actor, event_record
    from escrow.vault.models import EscrowKey

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_bare (id bigserial PRIMARY KEY, body jsonb NOT NULL)"
        )
    public_key, _shares = ceremony_run(threshold=3, custodians=5, epoch=1)
    EscrowKey.objects.create(epoch=1, threshold=3, custodian_count=5,
                             public_key=public_key.to_dict(), is_active=True)
    # The ceremony's event, as escrow_key_register logs it: enrolment seals only to a key
    # whose fingerprint the log names (escrow.vault.selectors.escrow_key_active).
    event_record(event_type="escrow_key.ceremony", actor=Actor.system("bench"),
                 object_ref="escrow_key:1",
                 details={"epoch": 1, "threshold": 3, "custodians": [],
                          "public_key": public_key.public_point.hex(),
                          "fingerprint": public_key.fingerprint().hex()})
    platform = platform_create(name="Bench platform")
    api_key = credential_create(platform=platform).api_key

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    body = {
        "identity": {"given_name": "Q", "family_name": "Count", "email": "q@bench.example",
                     "date_of_birth": "1990-01-01"},
        "evidence": {"provider": "bench", "reference": "r", "assurance_level": "high",
                     "verified_at": "2026-11-01T10:00:00Z"},
    }
    client.post("/api/v1/enrolments", body, format="json", HTTP_IDEMPOTENCY_KEY="warm-000001")
    body["identity"]["email"] = "q2@bench.example"
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/enrolments", body, format="json",
                               HTTP_IDEMPOTENCY_KEY="count-000001")
    assert response.status_code == 201, response.content
    connection.close()
    return api_key, len(queries.captured_queries)


# base URL -> pid of the gunicorn master serving it (its session's leader).
SERVER_PIDS: dict[str, int] = {}


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the web server's processes (its session), PostgreSQL's
    and Redis's (every process of theirs on this machine), read from /proc."""
    totals = {"web": 0.0, "PostgreSQL": 0.0, "Redis": 0.0}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, fields = stat.split("(", 1)[1].rsplit(")", 1)
        values = fields.split()
        used = (int(values[11]) + int(values[12])) / tick  # utime + stime
        if int(values[3]) == server_pid:  # the session gunicorn_serve started
            totals["web"] += used
        elif name.startswith("postgres"):
            totals["PostgreSQL"] += used
        elif name.startswith("redis-server"):
            totals["Redis"] += used
    return totals


def wrk(url: str, *, duration: int, connections: int, script: Path, env: dict[str, str]
        ) -> dict[str, float]:
    server_pid = next((pid for base, pid in SERVER_PIDS.items() if url.startswith(base)), None)
    before = cpu_seconds(server_pid) if server_pid and Path("/proc/self/stat").exists() else None
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, env=env, check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("JSON "))
    result = json.loads(line[5:])
    result["rps"] = result["requests"] / result["seconds"]
    if before is not None and server_pid is not None:
        after = cpu_seconds(server_pid)
        for part, used in after.items():  # milliseconds of CPU per request
            result[f"cpu_{part}"] = (used - before[part]) / max(result["requests"], 1) * 1e3
    return result


def bench_env(*, pg_url: str, workers: int) -> dict[str, str]:
    """The environment gunicorn and the set-up run with: the service's settings plus the
    bare endpoint, no rate limit, no access log."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.enrol.settings",
        "DATABASE_URL": pg_url,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
        "SECRET_KEY": "bench-" + os.urandom(16).hex(),
        "DEBUG": "false",
        "API_RATE_LIMIT": "100000000/min",
        "GUNICORN_ACCESS_LOG": "",
        "GUNICORN_WORKERS": str(workers),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


@contextlib.contextmanager
def gunicorn_serve(env: dict[str, str], port: int = 0) -> Iterator[str]:
    """Run the service under gunicorn on a loopback port (a free one if 0); yield its base
    URL."""
    port = port or free_port()
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config/gunicorn.conf.py"),
         "config.wsgi:application"],
        cwd=ROOT, env=env, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    SERVER_PIDS[base] = server.pid
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz/live", timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        SERVER_PIDS.pop(base, None)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def phases_main(args: argparse.Namespace) -> None:
    from bench.enrol.phases import phases_measure

    pg_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/escrow")
    os.environ.update(bench_env(pg_url=prepare_database(pg_url, args.database), workers=1))
    api_key, _ = setup_service()
    print(phases_measure(api_key=api_key, signups=args.signups, profile=args.profile))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=0,
                        help="loopback port for gunicorn (default: any free one)")
    parser.add_argument("--database", default=BENCH_DB,
                        help="name of the scratch database (dropped and re-created)")
    parser.add_argument("--phases", action="store_true",
                        help="instead of wrk: time each phase of a signup in-process")
    parser.add_argument("--signups", type=int, default=300, help="with --phases")
    parser.add_argument("--profile", action="store_true", help="with --phases: cProfile too")
    args = parser.parse_args()
    if args.phases:
        phases_main(args)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")

    pg_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/escrow")
    env = bench_env(pg_url=prepare_database(pg_url, args.database), workers=args.workers)
    os.environ.update(env)
    api_key, queries = setup_service()
    env["BENCH_API_KEY"] = api_key
    with gunicorn_serve(env, args.port) as base:
        script = ROOT / "bench/enrol/post.lua"
        targets = {"bare": f"{base}/bench/bare", "enrol": f"{base}/api/v1/enrolments"}
        for url in targets.values():  # warm up workers and connections
            wrk(url, duration=3, connections=args.connections, script=script, env=env)
        runs: dict[str, list[dict[str, float]]] = {"bare": [], "enrol": []}
        for round_no in range(args.rounds):
            for name, url in targets.items():
                result = wrk(url, duration=args.duration, connections=args.connections,
                             script=script, env=env)
                runs[name].append(result)
                print(f"round {round_no + 1} {name:5s}: {result['rps']:8.1f} req/s  "
                      f"p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:6.2f} ms  "
                      f"non-2xx {int(result['errors_status'])}  socket errors "
                      f"{int(result['errors_other'])}")

    def summary(name: str) -> dict[str, float]:
        keys = ["rps", "p50_ms", "p99_ms", *(k for k in runs[name][0] if k.startswith("cpu_"))]
        return {key: statistics.median(r[key] for r in runs[name]) for key in keys}

    def cpu_line(figures: dict[str, float]) -> str:
        parts = [f"{key[4:]} {value:.2f}" for key, value in figures.items()
                 if key.startswith("cpu_")]
        return f"  CPU ms per request: {', '.join(parts)}" if parts else ""

    bare, enrol = summary("bare"), summary("enrol")
    print()
    print(f"gunicorn sync workers: {args.workers}, wrk connections: {args.connections}, "
          f"{args.rounds} x {args.duration}s per endpoint, medians")
    print(f"bare one-insert DRF endpoint: {bare['rps']:8.1f} req/s  p50 {bare['p50_ms']:.2f} ms"
          f"  p99 {bare['p99_ms']:.2f} ms{cpu_line(bare)}")
    print(f"POST /api/v1/enrolments:      {enrol['rps']:8.1f} req/s  p50 {enrol['p50_ms']:.2f} ms"
          f"  p99 {enrol['p99_ms']:.2f} ms{cpu_line(enrol)}")
    print(f"ratio enrol/bare: {enrol['rps'] / bare['rps']:.2f}  (goal >= 0.35; p99 goal < 50 ms)")
    print(f"database round trips per signup (incl. the API-key check, BEGIN and COMMIT): "
          f"{queries}")


if __name__ == "__main__":
    main()
