"""Where one signup's time goes, measured in-process (no HTTP server, no wrk).

Sends `POST /api/v1/enrolments` through the whole Django and DRF stack with a test
client and times each phase: the API-key lookup, the rate-limit counter, validation,
sealing, and every SQL statement (count and time), in wall time and in this process's
CPU time; then the PostgreSQL backend's CPU (from /proc, when the server is local) and
one request of the bare endpoint for comparison. The phases are timed by wrapping the
functions that do them, so the figures are the service's own code, not a re-enactment.

    .venv/bin/python bench/enrol/run.py --phases [--signups 300] [--profile]

`--profile` adds cProfile's 25 most expensive functions of the service (cumulative time)
and of everything (own time).
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import os
import pstats
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# (label, module, attribute path) of each timed phase.
PHASES = (
    ("api-key lookup", "accounts.authentication", "ApiKeyAuthentication.authenticate"),
    ("rate-limit counter", "accounts.throttling", "CredentialRateThrottle.allow_request"),
    # A valid body is checked directly; anything else by the serializers (both timed).
    ("validation", "escrow.vault.api.enrolments", "enrolment_input_valid"),
    ("validation", "escrow.vault.api.enrolments", "EnrolmentCreateApi.Input.is_valid"),
    ("sealing", "escrow.vault.services.enrolment", "_identity_seal"),
)


class _Clock:
    """Wall time and this process's CPU time per phase. On a shared machine the CPU time
    is the steadier figure; the wall time adds waiting for PostgreSQL, Redis and the CPU."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.statements = 0

    @contextlib.contextmanager
    def phase(self, label: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.wall[label] += time.perf_counter() - wall
            self.cpu[label] += time.thread_time() - cpu

    def timed(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.phase(label):
                return function(*args, **kwargs)

        return wrapper

    def sql(self, execute: Callable[..., Any], sql: str, params: Any, many: bool,
            context: Any) -> Any:
        self.statements += 1
        with self.phase("SQL"):
            return execute(sql, params, many, context)


@contextlib.contextmanager
def _phases_timed(clock: _Clock) -> Iterator[None]:
    import importlib

    patched: list[tuple[Any, str, Any]] = []
    for label, module_name, attribute in PHASES:
        owner: Any = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        patched.append((owner, name, owner.__dict__.get(name)))
        setattr(owner, name, clock.timed(label, getattr(owner, name)))
    try:
        yield
    finally:
        for owner, name, original in reversed(patched):
            if original is None:  # inherited: drop the wrapper to uncover it again
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def _body(n: int) -> dict[str, Any]:
    """A ten-field identity, as post.lua sends."""
    return {
        "identity": {
            "given_name": f"Phase{n}", "family_name": f"Person{n}", "date_of_birth": "1990-01-01",
            "email": f"p{n}@bench.example", "phone": f"+4477009{n % 100000:05d}",
            "postal_address": {"lines": ["1 Bench Street"], "locality": "London",
                               "postal_code": "E1 1AA", "country": "GB"},
            "document": {"type": "passport", "number": f"P{n:08d}", "country": "GB"},
        },
        "evidence": {"provider": "bench-idv", "reference": f"ref-{n}",
                     "assurance_level": "high", "verified_at": "2026-11-01T10:00:00Z"},
    }


def _backend_cpu(pid: int) -> float | None:
    """CPU seconds used so far by the PostgreSQL backend `pid`, if it runs on this machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def phases_measure(*, api_key: str, signups: int, profile: bool) -> str:
    """Run `signups` enrolments in-process; return the per-signup breakdown as text."""
    from django.db import connection
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")

    def signup(n: int) -> None:
        response = client.post("/api/v1/enrolments", _body(n), format="json",
                               HTTP_IDEMPOTENCY_KEY=f"phase-{n:012d}")
        if response.status_code != 201:
            raise RuntimeError(f"signup answered {response.status_code}: {response.content!r}")

    for n in range(20):  # warm caches, connections and imports
        signup(n)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    clock = _Clock()
    profiler = cProfile.Profile() if profile else None
    database_cpu = [_backend_cpu(backend)]
    with _phases_timed(clock), connection.execute_wrapper(clock.sql):
        for n in range(20, 20 + signups):
            if profiler is not None:
                profiler.enable()
            with clock.phase("total"):
                signup(n)
            if profiler is not None:
                profiler.disable()
    database_cpu.append(_backend_cpu(backend))
    for n in range(signups):  # the baseline: the bare one-insert endpoint, same stack
        with clock.phase("bare endpoint"):
            client.post("/bench/bare", _body(n), format="json")
    database_cpu.append(_backend_cpu(backend))
    return _report(clock, signups, database_cpu, profiler)


def _report(clock: _Clock, signups: int, database_cpu: list[float | None],
            profiler: cProfile.Profile | None) -> str:
    lines = [f"in-process, {signups} signups of a ten-field identity, mean per signup "
             "(wall time, and this process's CPU time):"]
    for label in ["total", *dict.fromkeys(label for label, _, _ in PHASES), "SQL", "bare endpoint"]:
        lines.append(f"  {label:18s} {clock.wall[label] / signups * 1e3:6.2f} ms wall"
                     f"  {clock.cpu[label] / signups * 1e3:6.2f} ms CPU")
    lines.append(f"  SQL statements     {clock.statements / signups:6.1f}"
                 "  (BEGIN and COMMIT not counted; the phases above include their SQL)")
    if None not in database_cpu:
        start, enrolled, bare = (float(x) for x in database_cpu)  # type: ignore[arg-type]
        lines.append(f"  PostgreSQL backend CPU: signup {(enrolled - start) / signups * 1e3:.2f}"
                     f" ms, bare endpoint {(bare - enrolled) / signups * 1e3:.2f} ms")
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(r"/(escrow|accounts)/", 25)
        stats.sort_stats("tottime").print_stats(25)
        lines.append(out.getvalue())
    return "\n".join(lines)
