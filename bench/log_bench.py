"""Benchmark of the audit log on PostgreSQL: sequencing, audit_verify and proofs.

Run from the repository root, with PostgreSQL reachable:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/escrow python bench/log_bench.py [--entries N]

It works in its own scratch database (`<name>_logbench`, dropped and re-created),
fills it with N audit events (default 1,000,000) in transactions of 10,000, then:

1. sequences them all (batches of ESCROW_LOG_BATCH_SIZE) and reports entries/s;
   baseline: reading the same events, hashing each leaf and COPYing one
   (index, event id) row per entry into a scratch table, i.e. the I/O and hashing
   no sequencer can avoid;
2. runs audit_verify's check over the whole log; baseline: streaming every entry
   out of the database and hashing it once;
3. times inclusion and consistency proofs at that size, read from the stored tiles;
   baseline: one primary-key lookup of a log entry (a database round trip).

The machine is shared and noisy, so each figure is printed beside its baseline
measured in the same run, with the ratio. Goals: sequencing >= 5,000 entries/s,
audit_verify of 1,000,000 entries < 10 s, any proof < 5 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GOAL_SEQUENCE_PER_S = 5_000
GOAL_VERIFY_S = 10.0
GOAL_PROOF_MS = 5.0
CHUNK = 10_000


def _scratch_database() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("log_bench needs PostgreSQL: set DATABASE_URL=postgres://...")
    parsed = urlparse(url)
    name = (parsed.path.lstrip("/") or "escrow") + "_logbench"
    import psycopg

    admin = parsed._replace(path="/postgres")
    with psycopg.connect(urlunparse(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(parsed._replace(path=f"/{name}"))


def _drop_scratch(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    with psycopg.connect(urlunparse(parsed._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _entry(n: int) -> bytes:
    # The size and shape of a typical leaf (escrow/audit.py).
    return (
        '{"actor":{"kind":"platform","ref":"6f1c2b7e-3a52-4c1e-9a43-2f1f0d7a9b11","role":""},'
        f'"details":{{"n":{n},"state":"active"}},'
        f'"object":"enrolment:{n:08d}-0000-4000-8000-000000000000",'
        '"sealed":null,"time":"2026-11-23T18:00:00.000000Z","type":"enrolment.created","v":1}'
    ).encode()


def _fill(count: int) -> None:
    from django.db import connection, transaction

    columns = "event_type, occurred_at, actor_kind, actor_ref, actor_role, object_ref, entry"
    for start in range(0, count, CHUNK):
        with transaction.atomic(), connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(f"COPY escrow_auditevent ({columns}) FROM STDIN") as copy:
                for n in range(start, min(start + CHUNK, count)):
                    # The copied columns say what the entry says (audit_verify checks).
                    copy.write_row(("enrolment.created", "2026-11-23T18:00:00Z", "platform",
                                    "6f1c2b7e-3a52-4c1e-9a43-2f1f0d7a9b11", "",
                                    f"enrolment:{n:08d}-0000-4000-8000-000000000000",
                                    _entry(n)))


def _baseline_sequencing(count: int) -> float:
    """Read every event, hash its leaf, COPY (index, event id) into a scratch table."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bench_index (idx bigint PRIMARY KEY, event_id bigint"
                       " UNIQUE) ON COMMIT DROP")
        raw = cursor.cursor
        position = 0
        last = -1
        while True:
            cursor.execute("SELECT id, entry FROM escrow_auditevent WHERE id > %s ORDER BY id "
                           "LIMIT %s", [last, CHUNK])
            rows = cursor.fetchall()
            if not rows:
                break
            with raw.copy("COPY bench_index (idx, event_id) FROM STDIN") as copy:
                for event_id, entry in rows:
                    hashlib.sha256(b"\x00" + bytes(entry)).digest()
                    copy.write_row((position, event_id))
                    position += 1
            last = rows[-1][0]
    return time.perf_counter() - started


def _baseline_verify() -> float:
    from django.db import connection, transaction

    started = time.perf_counter()
    sha256 = hashlib.sha256
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute("SELECT l.index, e.entry FROM escrow_logentry l JOIN escrow_auditevent e "
                       "ON e.id = l.event_id ORDER BY l.index")
        while rows := cursor.fetchmany(20_000):
            for _, entry in rows:
                sha256(b"\x00" + bytes(entry)).digest()
    return time.perf_counter() - started


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"median {statistics.median(ordered) * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms, "
            f"max {ordered[-1] * 1e3:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    url = _scratch_database()
    try:
        _setup(url)
        _run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            _drop_scratch(url)


def _run(args: argparse.Namespace) -> None:
    from django.conf import settings
    from django.db import connection

    from escrow.crypto import merkle
    from escrow.log.export import DatabaseSource, database_snapshot, snapshot_begin
    from escrow.log.keys import log_identity
    from escrow.log.models import AuditEvent, LogEntry
    from escrow.log.selectors import log_consistency_proof, log_inclusion_proof
    from escrow.log.services import log_sequence
    from escrow.log.verify import log_verify

    count = args.entries
    print(f"log_bench: {count:,} entries, PostgreSQL {connection.pg_version}, "
          f"batch {settings.ESCROW_LOG_BATCH_SIZE:,}")
    started = time.perf_counter()
    _fill(count)
    print(f"  filled {count:,} events in {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    baseline = _baseline_sequencing(count)
    started = time.perf_counter()
    result = log_sequence()
    elapsed = time.perf_counter() - started
    assert result.tree_size == count, result
    rate = count / elapsed
    print(f"sequencing: {rate:,.0f} entries/s ({elapsed:.2f} s); baseline (read + hash + COPY "
          f"index rows) {count / baseline:,.0f} entries/s ({baseline:.2f} s); ratio "
          f"{elapsed / baseline:.2f}x; goal >= {GOAL_SEQUENCE_PER_S:,}/s: "
          f"{'met' if rate >= GOAL_SEQUENCE_PER_S else 'NOT met'}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    identity = log_identity()
    baseline = _baseline_verify()
    started = time.perf_counter()
    with database_snapshot():
        snapshot_begin()
        report = log_verify(source=DatabaseSource(), verifier=identity.verifier,
                            origin=identity.origin)
    elapsed = time.perf_counter() - started
    if not report.ok or report.entries != count:
        sys.exit(f"audit_verify failed on the benchmark log: {report.first}")
    print(f"audit_verify: {elapsed:.2f} s for {count:,} entries, {report.tiles:,} tiles, "
          f"{report.checkpoints} checkpoints; baseline (stream + hash every entry) "
          f"{baseline:.2f} s; ratio {elapsed / baseline:.2f}x; goal < {GOAL_VERIFY_S:.0f} s: "
          f"{'met' if elapsed < GOAL_VERIFY_S else 'NOT met'}")

    rng = random.Random(5)
    events = dict(LogEntry.objects.filter(
        index__in=[rng.randrange(count) for _ in range(args.proofs)]
    ).values_list("index", "event_id"))
    targets = [AuditEvent.objects.select_related("log_entry").get(pk=e) for e in events.values()]
    lookups, inclusions, consistencies = [], [], []
    for event in targets:
        t0 = time.perf_counter()
        LogEntry.objects.filter(index=event.log_entry.index).values_list("event_id").first()
        t1 = time.perf_counter()
        proof = log_inclusion_proof(event=event)
        t2 = time.perf_counter()
        old = rng.randrange(1, count)
        consistency = log_consistency_proof(old_size=old)
        t3 = time.perf_counter()
        lookups.append(t1 - t0)
        inclusions.append(t2 - t1)
        consistencies.append(t3 - t2)
        merkle.inclusion_verify(index=proof.log_index, size=proof.tree_size,
                                leaf_hash=proof.leaf_hash, proof=proof.proof,
                                root=proof.root_hash)
        merkle.consistency_verify(old_size=old, new_size=consistency.new_size,
                                  old_root=consistency.old_root, new_root=consistency.new_root,
                                  proof=consistency.proof)
    base = statistics.median(lookups)
    worst = max(max(inclusions), max(consistencies))
    print(f"inclusion proof at {count:,}: {_ms(inclusions)}; ratio to baseline "
          f"{statistics.median(inclusions) / base:.1f}x")
    print(f"consistency proof to {count:,}: {_ms(consistencies)}; ratio to baseline "
          f"{statistics.median(consistencies) / base:.1f}x")
    print(f"  baseline (one primary-key lookup): {_ms(lookups)}")
    print(f"proofs: worst {worst * 1e3:.2f} ms; goal < {GOAL_PROOF_MS:.0f} ms: "
          f"{'met' if worst < GOAL_PROOF_MS / 1e3 else 'NOT met (see p99)'}")


if __name__ == "__main__":
    main()
