"""Fault run under load: kill and restart what the service runs on while it works.

On its OWN PostgreSQL (initdb in a temp dir, a free loopback port, trust auth) and its
OWN redis-server (append-only file, so a stop and start keeps the broker's queue, as a
production Redis would), never the shared ones: migrate, set up a platform, an agency,
staff and a 3-of-5 escrow key as the end-to-end release tests do, then run gunicorn
(config/gunicorn.conf.py), a Celery worker, Celery beat and the log sequencer.

While two threads enrol over HTTP and a disclosure request is released (three
custodian-tool processes), inject in turn: SIGKILL of one gunicorn worker, SIGKILL of the
Celery worker (a new one is started), Redis stopped and started, PostgreSQL restarted
(`pg_ctl restart -m fast`). After each, poll `GET /healthz/ready` until it answers 200.
Then check: every enrolment answered 201 exists and every sealed field opens with three
custodians' shares (the release path's own functions: partial decryptions with proofs,
Lagrange combination, envelope opening) to what was sent; the agency opens the released
package; every audit event is in the log with no gap in its indexes; `audit_verify`
passes; the receiver got each webhook exactly once (by webhook-id).

    .venv/bin/python bench/faults.py [--pause 6] [--threads 2] [--json out.json]

Needs initdb/pg_ctl (PostgreSQL 15+) and redis-server on PATH; as root, PostgreSQL runs
as the `postgres` user. Loopback only. Exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from math import inf
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.enrol.run import bench_env, free_port  # noqa: E402
from bench.scale import identity_body  # noqa: E402

RECOVERY_BOUND_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 60.0
DRAIN_TIMEOUT_SECONDS = 120.0
RELEASE_FIELDS = ["given_name", "family_name", "email", "verification_reference"]
# Plain values an enrolment body carries, by sealed field name (the rest are opened too).
SCALAR_FIELDS = {"given_name": "given_name", "family_name": "family_name",
                 "email": "email", "phone": "phone", "date_of_birth": "date_of_birth"}


# --- the private services -------------------------------------------------------------


class PrivatePostgres:
    """A throwaway cluster: initdb, pg_ctl start/restart/stop, on a free loopback port."""

    def __init__(self, workdir: Path) -> None:
        self.data = workdir / "pg"
        self.port = free_port()
        # initdb refuses to run as root; the Debian `postgres` user is there if PostgreSQL is.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.workdir = workdir

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/escrow"

    def _pg(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True,
                       timeout=120)

    def start(self) -> None:
        if self.as_user:
            shutil.chown(self.workdir, user="postgres")
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                 "-E", "UTF8", "--no-sync")
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.workdir / "pg.log"), "-w",
                 "-t", "60", "-o",
                 f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}", "start")
        import psycopg

        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as db:
            db.execute("CREATE DATABASE escrow")

    def restart(self) -> None:
        # pg_ctl restart reuses the server options of the last start (postmaster.opts), but
        # not the log file: without -l the server would write to (and hold) our pipe.
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.workdir / "pg.log"), "-w",
                 "-t", "60", "-m", "fast", "restart")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")


class PrivateRedis:
    """redis-server on a free loopback port; its append-only file survives a restart."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.dir), "--appendonly", "yes", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        for _ in range(200):
            with contextlib.suppress(redis.RedisError):
                redis.Redis.from_url(self.url, socket_timeout=0.2).ping()
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: flushes the append-only file, then exits
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass
class Started:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    expected_exit: bool = False


class Fleet:
    """The service's own processes, each in its own session, logged to the work dir."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env
        self.started: list[Started] = []

    def start(self, name: str, argv: list[str]) -> Started:
        log = self.workdir / f"{name}-{len(self.started)}.log"
        process = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started = Started(name=name, process=process, log=log)
        self.started.append(started)
        return started

    def celery_worker(self) -> Started:
        worker = self.start("celery-worker", [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
            "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-n", f"faults-{uuid.uuid4().hex[:8]}@%h"])
        wait_for(lambda: b" ready." in worker.log.read_bytes(), 90, "the Celery worker")
        return worker

    def unexpected_exits(self) -> list[str]:
        return [f"{s.name} exited with {s.process.returncode}" for s in self.started
                if not s.expected_exit and s.process.poll() is not None]

    def stop_all(self) -> None:
        for started in reversed(self.started):
            if started.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(started.process.pid, signal.SIGTERM)
        for started in self.started:
            try:
                started.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(started.process.pid, signal.SIGKILL)
                started.process.wait(timeout=10)


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise RuntimeError(f"{what}: not within {seconds:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - started


# --- HTTP -------------------------------------------------------------------------------


def http(method: str, url: str, *, token: str = "", body: Any = None,
         headers: dict[str, str] | None = None, timeout: float = 15) -> tuple[int, Any]:
    """(status, parsed body); status 0 when no HTTP answer came (reset, refused, timeout)."""
    request = urllib.request.Request(  # noqa: S310 - loopback only
        url, data=None if body is None else json.dumps(body).encode(), method=method,
        headers={"Content-Type": "application/json", **(headers or {}),
                 **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"null")
        except ValueError:
            return exc.code, raw[:200].decode(errors="replace")
    except (OSError, ValueError):
        return 0, None


def ready_after(base: str, since: float) -> float:
    """Seconds from `since` to the first 200 from /healthz/ready."""
    while time.monotonic() - since < READY_TIMEOUT_SECONDS:
        if http("GET", f"{base}/healthz/ready", timeout=2)[0] == 200:
            return time.monotonic() - since
        time.sleep(0.1)
    return inf


@dataclass
class Attempt:
    status: int
    body: dict[str, Any]
    pseudonym: str | None
    at: float
    key: str = ""


@dataclass
class Load:
    """Enrolment load from a few threads; every attempt is kept with what was sent."""

    base: str
    api_key: str
    threads: int
    attempts: list[Attempt] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    workers: list[threading.Thread] = field(default_factory=list)

    def _run(self, tag: str) -> None:
        n = 0
        while not self.stopping.is_set():
            n += 1
            body = identity_body(tag, n)
            status, answer = http("POST", f"{self.base}/api/v1/enrolments", token=self.api_key,
                                  body=body, headers={"Idempotency-Key": f"{tag}-{n}"})
            pseudonym = answer.get("pseudonym") if status == 201 else None
            self.attempts.append(
                Attempt(status, body, pseudonym, time.monotonic(), key=f"{tag}-{n}"))
            if status != 201:
                time.sleep(0.2)  # a client backs off a little; no retries, each is counted

    def start(self) -> None:
        run_tag = uuid.uuid4().hex[:6]
        for i in range(self.threads):
            worker = threading.Thread(target=self._run, args=(f"F{run_tag}t{i}x",), daemon=True)
            worker.start()
            self.workers.append(worker)

    def stop(self) -> None:
        self.stopping.set()
        for worker in self.workers:
            worker.join(timeout=30)


# --- set-up -----------------------------------------------------------------------------


@dataclass
class Stage:
    """Who is who, made in the database as tests/release does (tests.release.conftest)."""

    world: Any
    platform_key: str
    endpoint_secret: str
    share_dir: Path


def service_env(*, pg: PrivatePostgres, redis_server: PrivateRedis, workers: int,
                base: str) -> dict[str, str]:
    from escrow.crypto.note import signer_key_generate

    env = bench_env(pg_url=pg.url, workers=workers)
    # A log key of the run's own: with DEBUG off, management commands (the sequencer)
    # refuse the public development key.
    origin = f"faults-{uuid.uuid4().hex[:8]}.escrow.invalid/log"
    env.update({
        "ESCROW_LOG_ORIGIN": origin,
        "ESCROW_LOG_SIGNING_KEY": signer_key_generate(name=origin)[0],
        "DJANGO_SETTINGS_MODULE": "bench.faults_settings",
        "REDIS_URL": redis_server.url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "ESCROW_PUBLIC_URL": base,
        "GUNICORN_BIND": base.removeprefix("http://"),
        "LOG_LEVEL": "INFO",
    })
    return env


def stage_build(workdir: Path, receiver_url: str) -> Stage:
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.services import credential_create
    from tests import factories
    from tests.release.conftest import webhook_endpoint, world_build

    call_command("migrate", verbosity=0)
    factories.jurisdiction_enabled("GB-EAW")
    world = world_build(share_files=True)
    endpoint = webhook_endpoint(world, receiver_url)
    share_dir = workdir / "custodians"
    share_dir.mkdir()
    return Stage(world=world, platform_key=credential_create(platform=world.platform).api_key,
                 endpoint_secret=endpoint.signing_secret, share_dir=share_dir)


def service_start(fleet: Fleet, base: str) -> tuple[Started, Started]:
    """gunicorn, the Celery worker and beat, and the log sequencer; (gunicorn, worker)."""
    manage = [sys.executable, "manage.py"]
    gunicorn = fleet.start("gunicorn", [
        sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config/gunicorn.conf.py"),
        "config.wsgi:application"])
    fleet.start("log-sequencer", [*manage, "log_sequencer", "--loop", "--interval", "1"])
    fleet.start("celery-beat", [
        sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO",
        "--schedule", str(fleet.workdir / "beat-schedule")])
    worker = fleet.celery_worker()
    if ready_after(base, time.monotonic()) == inf:
        raise RuntimeError("gunicorn did not become ready")
    return gunicorn, worker


# --- the release, driven over HTTP as the agency, staff and custodians would ------------


def request_file_and_approve(stage: Stage, base: str, pseudonyms: list[str]) -> str:
    from tests import factories

    world = stage.world
    status, filed = http(
        "POST", f"{base}/api/v1/disclosure-requests", token=world.agency_api_key,
        body=factories.disclosure_payload(targets=pseudonyms, legal_basis=world.basis.code,
                                          requested_fields=RELEASE_FIELDS))
    if status != 201:
        raise RuntimeError(f"filing the request answered {status}: {filed}")
    url = f"{base}/api/v1/disclosure-requests/{filed['id']}"
    approval = {"reason": "Proportionate; in scope."}
    steps = [("review", world.alice, None)] + [
        ("approve", who, approval) for who in (world.bob, world.carol)]
    for step, who, body in steps:
        status, answer = http("POST", f"{url}/{step}", token=world.staff_token(who), body=body)
        if status != 200:
            raise RuntimeError(f"{step} answered {status}: {answer}")
    return str(filed["id"])


def custodians_start(stage: Stage, base: str, request_id: str) -> list[subprocess.Popen[str]]:
    """frank, grace and heidi run the custodian tool, each a process of their own."""
    from tests.release.test_custodian_cli import release_args

    world = stage.world
    processes = []
    for name in ("frank", "grace", "heidi"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ESCROW_")}
        env["ESCROW_CUSTODIAN_TOKEN"] = world.staff_token(world.custodians[name])
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "escrow.custodian.cli", "--server", base,
             *release_args(world, stage.share_dir, name, request_id)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        ))
    return processes


def processes_kill(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()


def request_state(request_id: str) -> str:
    from django.db import connection
    from django.db.utils import DatabaseError

    from legal_requests.models import DisclosureRequest

    try:
        return str(DisclosureRequest.objects.values_list("state", flat=True).get(pk=request_id))
    except DatabaseError:
        connection.close()  # the server restarted under us: reconnect next time
        return "unknown"


# --- the faults -------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    down_seconds: float  # from the fault to the restarted part being back
    ready_seconds: float  # from the restart to the first 200 from /healthz/ready
    started_at: float = 0.0  # time.monotonic() of the fault
    back_at: float = 0.0  # and of the part being back

    @property
    def within_bound(self) -> bool:
        return self.ready_seconds <= RECOVERY_BOUND_SECONDS


def gunicorn_workers(master: Started) -> list[int]:
    path = Path(f"/proc/{master.process.pid}/task/{master.process.pid}/children")
    return [int(pid) for pid in path.read_text().split()]


def kill_gunicorn_worker(master: Started, base: str, workers: int) -> Fault:
    victim = gunicorn_workers(master)[0]
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    down = wait_for(lambda: len(set(gunicorn_workers(master)) - {victim}) >= workers, 60,
                    "gunicorn replacing its worker")
    return Fault("SIGKILL one gunicorn worker", down, ready_after(base, killed), killed,
                 killed + down)


def log_held_after_approval(pg: PrivatePostgres, request_id: str) -> Any:
    """Once the approval is in the log (custodians check that), hold the log's sequencer
    lock, as a slow log would: the release's commit then waits for its checkpoint, and
    the worker can be killed in between. Returns the holding connection (close it)."""
    import psycopg

    from escrow.log.models import AuditEvent
    from escrow.log.services import SEQUENCER_LOCK_KEY
    from legal_requests.models import DisclosureRequest

    approval = AuditEvent.objects.filter(
        object_ref=f"{DisclosureRequest.OBJECT_REF_PREFIX}{request_id}",
        event_type="disclosure.approved", log_entry__isnull=False)
    wait_for(db_poll(approval.exists), 60, "the approval in the log")
    holder = psycopg.connect(pg.url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", [SEQUENCER_LOCK_KEY])
    return holder


def release_committed(request_id: str, seconds: float) -> bool:
    """Wait until the release's commit event is written: the worker then waits for the
    log to checkpoint it before it stores the package. False if it never came."""
    from escrow.log.models import AuditEvent
    from legal_requests.models import DisclosureRequest

    commits = AuditEvent.objects.filter(
        object_ref=f"{DisclosureRequest.OBJECT_REF_PREFIX}{request_id}",
        event_type="disclosure.release_committed")
    with contextlib.suppress(RuntimeError):
        wait_for(db_poll(commits.exists), seconds, "the release's commit")
        return True
    return False


def kill_celery_worker(fleet: Fleet, worker: Started, base: str,
                       then: Callable[[], None]) -> tuple[Fault, Started]:
    """SIGKILL the worker, call `then`, start another."""
    worker.expected_exit = True
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait(timeout=10)
    killed = time.monotonic()
    then()
    replacement = fleet.celery_worker()
    back = time.monotonic()
    return Fault("SIGKILL the Celery worker, start another", back - killed,
                 ready_after(base, back), killed, back), replacement


def restart_redis(redis_server: PrivateRedis, base: str, outage: float) -> Fault:
    stopped = time.monotonic()
    redis_server.stop()
    time.sleep(outage)
    redis_server.start()
    restarted = time.monotonic()
    return Fault("stop Redis, start it again", restarted - stopped,
                 ready_after(base, restarted), stopped, restarted)


def restart_postgres_during_webhook(rig: Rig, webhooks: int) -> Fault:
    """PostgreSQL restarted while the release's first webhook is in flight: the receiver
    has it and answers only once the server is back, so the worker records the outcome
    on a connection the restart has ended. At once if every webhook came earlier."""
    lock, restarts = threading.Lock(), list[tuple[float, float]]()

    def restart_once() -> None:
        with lock:
            if not restarts:
                began = time.monotonic()
                rig.pg.restart()  # returns once the server accepts connections again
                restarts.append((began, time.monotonic()))

    in_flight = len(rig.receiver.received) < webhooks
    rig.receiver.on_post = restart_once
    try:
        if in_flight:
            wait_for(lambda: bool(restarts), 90, "a webhook to arrive")
        else:
            restart_once()
    finally:
        rig.receiver.on_post = None
    began, restarted = restarts[0]
    name = "restart PostgreSQL: pg_ctl restart -m fast" + (
        " (a webhook in flight)" if in_flight else " (no webhook left to deliver)")
    return Fault(name, restarted - began, ready_after(rig.base, restarted), began, restarted)


def faults_inject(rig: Rig, args: argparse.Namespace,
                  release_begin: Callable[[], tuple[str, Any]]) -> list[Fault]:
    """The four faults in turn, `args.pause` seconds of load between them: the release
    begins before the Celery worker is killed (mid-release), and PostgreSQL restarts
    while the release's webhooks go out."""
    faults = [kill_gunicorn_worker(rig.gunicorn, rig.base, args.workers)]
    time.sleep(args.pause)
    request_id, log_holder = release_begin()
    # Killed once the release is committed, while it waits for the (held) log.
    committed = release_committed(request_id, 90)
    midway = committed and request_state(request_id) == "releasing"
    fault, rig.worker = kill_celery_worker(rig.fleet, rig.worker, rig.base,
                                           then=log_holder.close)
    fault.name += " (mid-release)" if midway else " (not mid-release)"
    faults.append(fault)
    time.sleep(args.pause)
    faults.append(restart_postgres_during_webhook(rig, args.targets))
    time.sleep(args.pause)
    faults.append(restart_redis(rig.redis_server, rig.base, args.outage))
    time.sleep(args.pause)
    return faults


# --- the checks -------------------------------------------------------------------------


def db_poll(condition: Callable[[], bool]) -> Callable[[], bool]:
    """`condition`, with a database error (the server restarting) read as "not yet"."""
    from django.db import connection
    from django.db.utils import DatabaseError

    def polled() -> bool:
        try:
            return condition()
        except DatabaseError:
            connection.close()
            return False

    return polled


def expected_plaintexts(body: dict[str, Any]) -> dict[str, str]:
    identity = body["identity"]
    expected = {name: identity[key] for name, key in SCALAR_FIELDS.items() if key in identity}
    expected["document_number"] = identity["document"]["number"]
    expected["verification_reference"] = body["evidence"]["reference"]
    return expected


def enrolments_check(stage: Stage, accepted: list[Attempt]) -> dict[str, Any]:
    """Every 201'd enrolment is stored and every sealed field opens, with a set of three
    custodians other than the release's, to the value sent."""
    from base64 import b64decode

    from escrow.crypto.envelope import FieldContext, SealedField, field_open
    from escrow.crypto.release import partial_decrypt, partials_combine, release_context
    from escrow.vault.models import Enrolment

    public_key = stage.world.keypair.public_key
    shares = [stage.world.share(name) for name in ("ivan", "judy", "frank")]
    context = release_context(request_id="fault-run-check", approval_log_index=0)
    rows = {row.pseudonym: row for row in
            Enrolment.objects.filter(pseudonym__in=[a.pseudonym for a in accepted])}
    missing, wrong, fields_opened = [], [], 0
    for attempt in accepted:
        row = rows.get(attempt.pseudonym or "")
        if row is None or not row.sealed_fields:
            missing.append(attempt.pseudonym)
            continue
        names = sorted(row.sealed_fields)
        sealed = [SealedField.from_bytes(b64decode(row.sealed_fields[n])) for n in names]
        points = [s.ephemeral_point for s in sealed]
        partials = [partial_decrypt(share=share, public_key=public_key, points=points,
                                    context=context) for share in shares]
        shared = partials_combine(partials=partials, public_key=public_key, points=points,
                                  context=context)
        opened = {
            name: field_open(
                sealed=envelope, shared_point=point, public_key=public_key,
                context=FieldContext(record_id=str(row.id), platform_id=str(row.platform_id),
                                     field_name=name, epoch=row.key_epoch),
            ).decode()
            for name, envelope, point in zip(names, sealed, shared, strict=True)
        }
        fields_opened += len(opened)
        if any(opened.get(k) != v for k, v in expected_plaintexts(attempt.body).items()):
            wrong.append(attempt.pseudonym)
    return {"checked": len(accepted), "missing": len(missing), "wrong": len(wrong),
            "fields_opened": fields_opened, "lost": len(missing) + len(wrong)}


def log_check(accepted_ids: list[str]) -> dict[str, Any]:
    """Every event sequenced, indexes 0..n-1 with no gap, and audit_verify's verdict."""
    import io

    from django.core.management import CommandError, call_command

    from escrow.log.models import AuditEvent, LogEntry

    wait_for(db_poll(lambda: not AuditEvent.objects.filter(log_entry__isnull=True).exists()),
             DRAIN_TIMEOUT_SECONDS, "every audit event sequenced")
    indexes = list(LogEntry.objects.order_by("index").values_list("index", flat=True))
    refs = {f"enrolment:{pk}" for pk in accepted_ids}
    logged = set(AuditEvent.objects.filter(
        object_ref__in=refs, event_type="enrolment.created", log_entry__isnull=False,
    ).values_list("object_ref", flat=True))
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit_verify", stdout=out, stderr=err)
        verdict = out.getvalue().strip()
    except CommandError as exc:
        verdict = f"FAILED: {exc} {err.getvalue().strip()}"
    return {"entries": len(indexes), "gap": indexes != list(range(len(indexes))),
            "enrolments_unlogged": len(refs - logged), "audit_verify": verdict,
            "audit_verify_ok": verdict.startswith("audit log OK")}


def webhooks_check(stage: Stage, receiver: Any, request_ref: str) -> dict[str, Any]:
    """From the receiver's side: each delivery's webhook-id arrived once, signed."""
    from standardwebhooks.webhooks import Webhook

    from accounts.models import WebhookDelivery

    expected = {d.webhook_id for d in WebhookDelivery.objects.filter(subject_ref=request_ref)}
    wait_for(lambda: expected <= {h.headers.get("webhook-id") for h in receiver.received},
             DRAIN_TIMEOUT_SECONDS, "every webhook at the receiver")
    time.sleep(3)  # a duplicate would come with the next beat scan
    seen = Counter(h.headers.get("webhook-id") for h in receiver.received)
    signer = Webhook(stage.endpoint_secret)
    unsigned = 0
    for hit in receiver.received:
        try:
            signer.verify(hit.body, hit.headers)
        except Exception:  # any verification failure counts; the kind does not matter here
            unsigned += 1
    return {"expected": len(expected), "received": sum(seen.values()),
            "distinct": len(seen), "duplicates": sum(c - 1 for c in seen.values()),
            "missing": len(expected - set(seen)), "unexpected": len(set(seen) - expected),
            "bad_signature": unsigned}


def release_check(stage: Stage, base: str, request_id: str,
                  targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The request's story in the log, and the agency opening its package."""
    from base64 import b64decode

    from escrow.crypto.package import package_open_as_recipient
    from escrow.log.models import AuditEvent
    from legal_requests.models import DisclosureRequest

    disclosure = DisclosureRequest.objects.get(pk=request_id)
    story = list(AuditEvent.objects.filter(
        object_ref=disclosure.object_ref, event_type__startswith="disclosure.release",
    ).order_by("id").values_list("event_type", flat=True))
    status, sealed = http("GET", f"{base}/api/v1/disclosure-requests/{request_id}/package",
                          token=stage.world.agency_api_key)
    opened_ok = False
    if status == 200:
        package = json.loads(package_open_as_recipient(
            recipient_private_key=stage.world.agency_private_key,
            sealed=b64decode(sealed["sealed_package"])))
        opened_ok = all(
            subject["fields"].get("given_name") == targets[subject["pseudonym"]]["identity"][
                "given_name"]
            for subject in package["content"]["subjects"]
        ) and len(package["content"]["subjects"]) == len(targets)
    return {"state": disclosure.state, "story": story, "package_status": status,
            "package_opened": opened_ok, "targets": len(targets)}


def retries_check(stage: Stage, base: str, failed: list[Attempt]
                  ) -> tuple[dict[str, Any], list[Attempt]]:
    """A client retries each enrolment that got no 201 with the same Idempotency-Key:
    one stored without an answer must come back with its pseudonym, any other is made
    now. Returns the figures and the retries answered 201 (to be checked like the rest)."""
    from escrow.vault.models import Enrolment

    stored = dict(Enrolment.objects.filter(
        platform=stage.world.platform, idempotency_key__in=[a.key for a in failed],
    ).values_list("idempotency_key", "pseudonym"))
    accepted, answers = [], Counter[str]()
    for attempt in failed:
        status, answer = http("POST", f"{base}/api/v1/enrolments", token=stage.platform_key,
                              body=attempt.body, headers={"Idempotency-Key": attempt.key})
        answers[str(status)] += 1
        if status == 201:
            accepted.append(Attempt(status, attempt.body, answer["pseudonym"],
                                    time.monotonic(), attempt.key))
    replayed_same = sum(1 for a in accepted if stored.get(a.key) == a.pseudonym)
    return {"retried": len(failed), "stored_without_a_201": len(stored),
            "answers": dict(answers), "stored_and_replayed_with_its_pseudonym": replayed_same,
            }, accepted


def enrol_targets(stage: Stage, base: str, count: int) -> list[Attempt]:
    attempts = []
    for n in range(count):
        body = identity_body(f"T{uuid.uuid4().hex[:6]}x", n)
        status, answer = http("POST", f"{base}/api/v1/enrolments", token=stage.platform_key,
                              body=body, headers={"Idempotency-Key": f"target-{uuid.uuid4()}"})
        if status != 201:
            raise RuntimeError(f"enrolling a release target answered {status}: {answer}")
        attempts.append(Attempt(status, body, answer["pseudonym"], time.monotonic()))
    return attempts


def drain(request_id: str) -> float:
    """Wait until the release is done and every webhook of it delivered."""
    from accounts.models import WebhookDelivery
    from legal_requests.models import DisclosureRequest

    ref = f"{DisclosureRequest.OBJECT_REF_PREFIX}{request_id}"
    return wait_for(db_poll(lambda: request_state(request_id) == "released" and not (
        WebhookDelivery.objects.filter(subject_ref=ref, delivered_at__isnull=True).exists())),
        DRAIN_TIMEOUT_SECONDS, "the release and its webhooks")


# --- the run ----------------------------------------------------------------------------


def verdict(report: dict[str, Any]) -> list[str]:
    """What failed, in words; empty when every goal held."""
    failures = []
    if report["enrolments"]["lost"]:
        failures.append(f"{report['enrolments']['lost']} enrolments answered 201 were lost")
    if report["statuses"].get("500"):
        failures.append(f"{report['statuses']['500']} answers were 500")
    log = report["log"]
    if log["gap"] or log["enrolments_unlogged"] or not log["audit_verify_ok"]:
        failures.append(f"log: gap {log['gap']}, enrolments not logged "
                        f"{log['enrolments_unlogged']}, {log['audit_verify']}")
    hooks = report["webhooks"]
    if hooks["duplicates"] or hooks["missing"] or hooks["unexpected"] or hooks["bad_signature"]:
        failures.append(f"webhooks not exactly once: {hooks}")
    release = report["release"]
    if release["state"] != "released" or not release["package_opened"]:
        failures.append(f"release: {release}")
    failures += [f"{f['name']}: ready after {f['ready_seconds']:.1f} s"
                 for f in report["faults"] if f["ready_seconds"] > RECOVERY_BOUND_SECONDS]
    retries = report["retries"]
    if retries["answers"].get("201", 0) != retries["retried"]:
        failures.append(f"retries with the same Idempotency-Key: {retries}")
    failures += report["unexpected_exits"]
    return failures


@dataclass
class Rig:
    """Everything the run started, in one place."""

    pg: PrivatePostgres
    redis_server: PrivateRedis
    base: str
    receiver: Any
    stage: Stage
    fleet: Fleet
    gunicorn: Started
    worker: Started


def rig_up(args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack) -> Rig:
    """The private PostgreSQL and Redis, the set-up, then the service's processes; each
    registered on `stack` to be stopped, in reverse, however the run ends."""
    from tests.release.receiver import webhook_receiver

    pg, redis_server = PrivatePostgres(workdir), PrivateRedis(workdir)
    stack.callback(pg.stop)
    pg.start()
    stack.callback(redis_server.stop)
    redis_server.start()
    base = f"http://127.0.0.1:{free_port()}"
    env = service_env(pg=pg, redis_server=redis_server, workers=args.workers, base=base)
    os.environ.update(env)
    receiver = stack.enter_context(webhook_receiver())
    stage = stage_build(workdir, receiver.url)
    fleet = Fleet(workdir, env)
    stack.callback(fleet.stop_all)
    gunicorn, worker = service_start(fleet, base)
    return Rig(pg=pg, redis_server=redis_server, base=base, receiver=receiver, stage=stage,
               fleet=fleet, gunicorn=gunicorn, worker=worker)


def run(args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack) -> dict[str, Any]:
    rig = rig_up(args, workdir, stack)
    targets = enrol_targets(rig.stage, rig.base, args.targets)
    load = Load(base=rig.base, api_key=rig.stage.platform_key, threads=args.threads)
    stack.callback(load.stop)
    custodians: list[subprocess.Popen[str]] = []
    stack.callback(processes_kill, custodians)
    request_ids: list[str] = []

    def release_begin() -> tuple[str, Any]:
        pseudonyms = [t.pseudonym or "" for t in targets]
        request_ids.append(request_file_and_approve(rig.stage, rig.base, pseudonyms))
        log_holder = log_held_after_approval(rig.pg, request_ids[0])
        stack.callback(log_holder.close)
        custodians.extend(custodians_start(rig.stage, rig.base, request_ids[0]))
        return request_ids[0], log_holder

    started = time.monotonic()
    load.start()
    time.sleep(args.pause)
    faults = faults_inject(rig, args, release_begin)
    load.stop()
    load_seconds = time.monotonic() - started
    custodian_codes = [p.wait(timeout=120) for p in custodians]
    from django.db import connection

    connection.close()  # its server was restarted
    drained = drain(request_ids[0])
    release = release_check(rig.stage, rig.base, request_ids[0],
                            {t.pseudonym or "": t.body for t in targets})
    retries, retried = retries_check(rig.stage, rig.base,
                                     [a for a in load.attempts if a.status != 201])
    return report_build(
        rig=rig, load=load, faults=faults, release=release, request_id=request_ids[0],
        accepted=targets + [a for a in load.attempts if a.status == 201] + retried,
        extra={"retries": retries,
               "load_seconds": round(load_seconds, 1), "drain_seconds": round(drained, 1),
               "custodian_exit_codes": custodian_codes, "gunicorn_workers": args.workers,
               "load_threads": args.threads})


def fault_figures(fault: Fault, attempts: list[Attempt], until: float) -> dict[str, Any]:
    """The fault's times, and the enrolments not answered 201 while the part was down
    and once it was back (until `until`, the next fault)."""
    figures = {k: v for k, v in asdict(fault).items() if not k.endswith("_at")}
    during = Counter(str(a.status) for a in attempts
                     if fault.started_at <= a.at <= fault.back_at and a.status != 201)
    after = Counter(str(a.status) for a in attempts
                    if fault.back_at < a.at < until and a.status != 201)
    return {**figures, "within_bound": fault.within_bound,
            "not_201_while_down": dict(during), "not_201_after_back": dict(after)}


def report_build(*, rig: Rig, load: Load, accepted: list[Attempt], faults: list[Fault],
                 release: dict[str, Any], request_id: str, extra: dict[str, Any]
                 ) -> dict[str, Any]:
    from escrow.vault.models import Enrolment

    statuses = Counter(str(a.status) for a in load.attempts)
    ids = [str(pk) for pk in Enrolment.objects.filter(
        pseudonym__in=[a.pseudonym for a in accepted]).values_list("id", flat=True)]
    enrolments = enrolments_check(rig.stage, accepted)
    return {
        **extra,
        "attempted": len(load.attempts), "statuses": dict(sorted(statuses.items())),
        "enrolments": enrolments,
        "faults": [fault_figures(f, load.attempts, until)
                   for f, until in zip(faults, [f.started_at for f in faults[1:]] + [inf],
                                       strict=True)],
        "release": release,
        "webhooks": webhooks_check(rig.stage, rig.receiver, f"disclosure_request:{request_id}"),
        "log": log_check(ids),
        "unexpected_exits": rig.fleet.unexpected_exits(),
    }


def report_print(report: dict[str, Any]) -> None:
    statuses = report["statuses"]
    other = {k: v for k, v in statuses.items() if k != "201"}
    print(f"\nenrolments: {report['attempted']} attempted over {report['load_seconds']} s "
          f"({report['load_threads']} threads), {statuses.get('201', 0)} answered 201, "
          f"other answers {other or 'none'} (0 = no HTTP answer)")
    retries = report["retries"]
    print(f"retried with the same Idempotency-Key: {retries['retried']} (of them stored "
          f"without a 201: {retries['stored_without_a_201']}, replayed with their pseudonym: "
          f"{retries['stored_and_replayed_with_its_pseudonym']}); answers {retries['answers']}")
    e = report["enrolments"]
    print(f"items lost: {e['lost']} of {e['checked']} 201'd enrolments (release targets "
          f"and retries included): {e['missing']} missing, {e['wrong']} not opening to what "
          f"was sent; {e['fields_opened']} sealed fields opened with 3 custodians' shares")
    print(f"faults injected: {len(report['faults'])}")
    for f in report["faults"]:
        print(f"  {f['name']}: back after {f['down_seconds']:.1f} s, first 200 from "
              f"/healthz/ready {f['ready_seconds']:.2f} s later; not 201 while down: "
              f"{f['not_201_while_down'] or 'none'}, after: {f['not_201_after_back'] or 'none'}")
    r = report["release"]
    print(f"release: {r['state']} ({', '.join(r['story'])}); package {r['package_status']}, "
          f"opened by the agency: {r['package_opened']} ({r['targets']} pseudonyms)")
    w = report["webhooks"]
    print(f"webhooks: {w['expected']} expected, {w['received']} received, {w['duplicates']} "
          f"duplicates, {w['missing']} missing, {w['bad_signature']} badly signed")
    log = report["log"]
    print(f"log: {log['entries']} entries, gap: {log['gap']}, 201'd enrolments not in the "
          f"log: {log['enrolments_unlogged']}; audit_verify: {log['audit_verify']}")
    print(f"processes that died unasked: {report['unexpected_exits'] or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pause", type=float, default=6.0,
                        help="seconds of load before, between and after the faults")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds Redis stays down")
    parser.add_argument("--threads", type=int, default=2, help="enrolment threads")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--targets", type=int, default=5, help="pseudonyms the release names")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = parser.parse_args()
    for program in ("initdb", "pg_ctl", "redis-server"):
        if shutil.which(program) is None:
            sys.exit(f"{program} is not on PATH")
    # A terminated run (a test's timeout, a supervisor) cleans up as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="escrow-faults-"))
    with contextlib.ExitStack() as stack:
        if args.keep:
            print(f"work dir (kept): {workdir}")
        else:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        report = run(args, workdir, stack)
    failures = verdict(report)
    report["failures"] = failures
    report_print(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print("\nFAILED:\n  " + "\n  ".join(failures) if failures else "\nall goals held")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
