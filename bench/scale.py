"""Enrolment, pseudonym lookup and blind-index match at N enrolled identities vs. empty.

One run, on its own PostgreSQL database (default escrow_scale, dropped at the end unless
--keep), under gunicorn over loopback, driven by wrk:

1. EMPTY: migrate, enrol --targets identities through the API (the match targets), then
   measure, --rounds times interleaved: enrolment of new identities (POST
   /api/v1/enrolments), pseudonym lookup (GET /api/v1/enrolments/<pseudonym>, random
   pseudonyms of the table) and blind-index match (POST of a target's identity again with a
   new Idempotency-Key: the answer names the earlier pseudonyms in existing_pseudonyms).
2. LOAD: bulk-load (COPY) enrolments up to N - --api-tail rows, replicated from the real
   rows already there (see `bulk_load` for what is real and what is replicated), then
   enrol the last --api-tail identities through the API, then VACUUM ANALYZE.
3. LOADED: the same three measurements, with --targets match targets drawn from the
   API-enrolled tail; then bytes per identity (pg_total_relation_size of the vault's
   enrolment and blind-index tables, indexes and TOAST included, over the row count).

    .venv/bin/python bench/scale.py [--identities 1000000] [--duration 10] [--rounds 2]

Needs PostgreSQL and Redis on 127.0.0.1 and `wrk` (Debian package wrk). Loopback only.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.enrol.run import (  # noqa: E402
    bench_env,
    gunicorn_serve,
    prepare_database,
    setup_service,
    wrk,
)

SCALE_DB = "escrow_scale"
LUA = ROOT / "bench/scale.lua"
COPY_BATCH = 50_000


def identity_body(tag: str, n: int) -> dict[str, Any]:
    """A distinct, valid identity: every blind-index kind (name+dob, email, phone,
    document) present and unique to (tag, n)."""
    return {
        "identity": {
            "given_name": f"Scale{tag}{n}", "family_name": f"Person{tag}{n}",
            "date_of_birth": f"{1950 + n % 50}-{1 + n % 12:02d}-{1 + n % 28:02d}",
            "email": f"{tag}{n}@scale.example",
            "phone": f"+4477009{n % 100000:05d}",
            "postal_address": {"lines": [f"{n} Scale Street"], "locality": "London",
                               "postal_code": "E1 1AA", "country": "GB"},
            "document": {"type": "passport", "number": f"S{tag}{n:08d}", "country": "GB"},
        },
        "evidence": {"provider": "scale-idv", "reference": f"ref-{tag}{n}",
                     "assurance_level": "high", "verified_at": "2026-11-01T10:00:00Z"},
    }


def api_enrol(base: str, api_key: str, bodies: list[dict[str, Any]], *, threads: int = 8
              ) -> float:
    """POST each body once (bounded: one request each, no retries); return requests/s."""

    def post(indexed: tuple[int, dict[str, Any]]) -> int:
        n, body = indexed
        request = urllib.request.Request(  # noqa: S310
            f"{base}/api/v1/enrolments", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key}",
                     "Idempotency-Key": f"api-{uuid.uuid4().hex}-{n}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        statuses = list(pool.map(post, enumerate(bodies)))
    elapsed = time.perf_counter() - started
    bad = [s for s in statuses if s != 201]
    if bad:
        sys.exit(f"{len(bad)} enrolments through the API did not answer 201")
    return len(bodies) / elapsed


def check_match(base: str, api_key: str, body: dict[str, Any]) -> int:
    """One match request by hand: the answer must name the earlier enrolment."""
    request = urllib.request.Request(  # noqa: S310
        f"{base}/api/v1/enrolments", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key}",
                 "Idempotency-Key": f"check-{uuid.uuid4().hex}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        answer = json.loads(response.read())
    if not answer.get("existing_pseudonyms") or "banned_match" not in answer:
        sys.exit(f"a repeated identity was not matched: {sorted(answer)}")
    return len(answer["existing_pseudonyms"])


def enrolment_count(cursor: Any) -> int:
    cursor.execute("SELECT count(*) FROM escrow_enrolment")
    return int(cursor.fetchone()[0])


def measure(phase: str, *, base: str, env: dict[str, str], args: argparse.Namespace,
            cursor: Any, targets: list[dict[str, Any]], workdir: Path
            ) -> dict[str, dict[str, float]]:
    """Median over rounds of the three figures; lookups use random pseudonyms of the
    whole table, drawn afresh each round."""
    match_file = workdir / f"{phase}-match.jsonl"
    match_file.write_text("".join(json.dumps(b) + "\n" for b in targets))
    runs: dict[str, list[dict[str, float]]] = {"enrol": [], "lookup": [], "match": []}
    url = f"{base}/api/v1/enrolments"
    for round_no in range(args.rounds):
        cursor.execute("SELECT pseudonym FROM escrow_enrolment ORDER BY random() LIMIT %s",
                       [args.lookups])
        lookup_file = workdir / f"{phase}-lookup.txt"
        lookup_file.write_text("".join(row[0] + "\n" for row in cursor.fetchall()))
        plan = {
            "enrol": (ROOT / "bench/enrol/post.lua", {}),
            "lookup": (LUA, {"BENCH_METHOD": "GET", "BENCH_LINES": str(lookup_file)}),
            "match": (LUA, {"BENCH_METHOD": "POST", "BENCH_LINES": str(match_file)}),
        }
        for name, (script, extra) in plan.items():
            result = wrk(url, duration=args.duration, connections=args.connections,
                         script=script, env={**env, **extra})
            runs[name].append(result)
            print(f"  {phase} round {round_no + 1} {name:6s}: {result['rps']:8.1f} req/s  "
                  f"p50 {result['p50_ms']:7.2f} ms  p99 {result['p99_ms']:7.2f} ms  "
                  f"non-2xx {int(result['errors_status'])}  socket errors "
                  f"{int(result['errors_other'])}", flush=True)
            if result["errors_status"] or result["errors_other"]:
                sys.exit(f"{name}: errors during the run, the figure would be meaningless")
    return {
        name: {key: statistics.median(r[key] for r in results)
               for key in ("rps", "p50_ms", "p99_ms")}
        for name, results in runs.items()
    }


def bulk_load(cursor: Any, *, rows: int, platform_id: str) -> dict[str, Any]:
    """COPY `rows` enrolments, their blind indexes and their audit events.

    Real: the sealed fields (envelopes made by the service's own sealing code for the
    rows already enrolled through the API), the blind-index kinds per row, the evidence
    columns, the audit-event entry bytes and the pseudonyms (each derived by
    pseudonym_derive from the new row's own id under the platform's key, so unique and
    distributed like real ones).
    Replicated / synthetic: a new random id per row; the sealed fields of a sample row,
    copied unchanged (bound to the sample's record id, so they would not open under the
    new id); blind-index digests are random 32 bytes (unique, so matches stay as
    selective as for distinct people); request fingerprints random; audit events carry
    the new object reference but a copied entry and are not sequenced into the log.
    """
    from escrow.crypto.pseudonym import pseudonym_derive
    from escrow.keys import platform_key

    cursor.execute(
        "SELECT e.id, e.sealed_fields::text, e.evidence_provider, e.evidence_assurance_level,"
        " e.evidence_verified_at, e.key_epoch,"
        " array_agg(b.kind ORDER BY b.kind)"
        " FROM escrow_enrolment e JOIN escrow_blindindex b ON b.enrolment_id = e.id"
        " WHERE e.status = 'active' GROUP BY e.id LIMIT 2000"
    )
    samples = cursor.fetchall()
    cursor.execute(
        "SELECT entry, actor_kind, actor_ref FROM escrow_auditevent"
        " WHERE event_type = 'enrolment.created' LIMIT 1"
    )
    entry, actor_kind, actor_ref = cursor.fetchone()
    key = platform_key(platform_id=platform_id, purpose="pseudonym")
    started = time.perf_counter()
    done = 0
    # Spread over the three years before now, in load order.
    base_time, spread = time.time() - 3 * 365 * 86400, 3 * 365 * 86400 / max(rows, 1)
    while done < rows:
        batch = min(COPY_BATCH, rows - done)
        enrolments, indexes, events = [], [], []
        for j in range(done, done + batch):
            _sample_id, sealed, provider, level, verified_at, epoch, kinds = samples[
                j % len(samples)]
            new_id = uuid.uuid4()
            created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base_time + j * spread))
            enrolments.append((
                new_id, platform_id, pseudonym_derive(platform_key=key, record_id=new_id.bytes),
                "active", epoch, sealed, provider, level, verified_at, f"bulk-{j}",
                os.urandom(32), created,
            ))
            indexes.extend((platform_id, new_id, kind, os.urandom(32)) for kind in kinds)
            events.append(("enrolment.created", created, actor_kind, actor_ref, "",
                           f"enrolment:{new_id}", platform_id, entry))
        with cursor.copy(
            "COPY escrow_enrolment (id, platform_id, pseudonym, status, key_epoch,"
            " sealed_fields, evidence_provider, evidence_assurance_level,"
            " evidence_verified_at, idempotency_key, request_fingerprint, created_at)"
            " FROM STDIN"
        ) as copy:
            for row in enrolments:
                copy.write_row(row)
        with cursor.copy(
            "COPY escrow_blindindex (platform_id, enrolment_id, kind, digest) FROM STDIN"
        ) as copy:
            for row in indexes:
                copy.write_row(row)
        with cursor.copy(
            "COPY escrow_auditevent (event_type, occurred_at, actor_kind, actor_ref, actor_role,"
            " object_ref, platform_id, entry) FROM STDIN"
        ) as copy:
            for row in events:
                copy.write_row(row)
        cursor.connection.commit()
        done += batch
        elapsed = time.perf_counter() - started
        print(f"  bulk-loaded {done:>9,} / {rows:,} in {elapsed:6.0f} s "
              f"({done / elapsed:,.0f} rows/s)", flush=True)
    return {"rows": rows, "seconds": time.perf_counter() - started, "samples": len(samples)}


def sizes(cursor: Any) -> dict[str, int]:
    out = {}
    for table in ("escrow_enrolment", "escrow_blindindex", "escrow_auditevent"):
        cursor.execute("SELECT pg_total_relation_size(%s)", [table])
        out[table] = int(cursor.fetchone()[0])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=1_000_000,
                        help="enrolled identities in the loaded phase (default 1,000,000)")
    parser.add_argument("--api-tail", type=int, default=10_000,
                        help="of those, enrolled last through the API (default 10,000)")
    parser.add_argument("--targets", type=int, default=500,
                        help="identities the match measurement re-enrols (default 500)")
    parser.add_argument("--lookups", type=int, default=2000,
                        help="random pseudonyms per lookup round (default 2000)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--database", default=SCALE_DB)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    if args.identities < args.api_tail + args.targets:
        sys.exit("--identities must exceed --api-tail plus --targets")

    import psycopg

    pg_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/escrow")
    db_url = prepare_database(pg_url, args.database)
    env = bench_env(pg_url=db_url, workers=args.workers)
    os.environ.update(env)
    try:
        api_key, _queries = setup_service()
        env["BENCH_API_KEY"] = api_key
        from accounts.models import Platform

        platform_id = str(Platform.objects.get().id)
        conn = psycopg.connect(db_url)
        cursor = conn.cursor()
        with tempfile.TemporaryDirectory() as tmp, gunicorn_serve(env) as base:
            workdir = Path(tmp)
            print(f"EMPTY database {args.database}: enrolling {args.targets} match targets "
                  "through the API", flush=True)
            empty_targets = [identity_body("e", n) for n in range(args.targets)]
            api_enrol(base, api_key, empty_targets)
            check_match(base, api_key, empty_targets[0])
            wrk(f"{base}/api/v1/enrolments", duration=3, connections=args.connections,
                script=ROOT / "bench/enrol/post.lua", env=env)  # warm-up
            empty = measure("empty", base=base, env=env, args=args, cursor=cursor,
                            targets=empty_targets, workdir=workdir)
            empty_rows = enrolment_count(cursor)

            bulk_rows = max(0, args.identities - args.api_tail - enrolment_count(cursor))
            print(f"LOAD: {bulk_rows:,} rows by COPY, then {args.api_tail:,} through the API",
                  flush=True)
            load = bulk_load(cursor, rows=bulk_rows, platform_id=platform_id)
            tail = [identity_body("t", n) for n in range(args.api_tail)]
            tail_rps = api_enrol(base, api_key, tail)
            print(f"  {args.api_tail:,} enrolled through the API at {tail_rps:.1f} req/s "
                  "(8 client threads, one connection per request)", flush=True)
            conn.autocommit = True
            started = time.perf_counter()
            cursor.execute("VACUUM ANALYZE escrow_enrolment, escrow_blindindex, "
                           "escrow_auditevent")
            vacuum_s = time.perf_counter() - started
            conn.autocommit = False
            loaded_rows = enrolment_count(cursor)
            print(f"LOADED: {loaded_rows:,} enrolments (VACUUM ANALYZE {vacuum_s:.0f} s)",
                  flush=True)
            loaded_targets = random.sample(tail, args.targets)
            matched = check_match(base, api_key, loaded_targets[0])
            loaded = measure("loaded", base=base, env=env, args=args, cursor=cursor,
                             targets=loaded_targets, workdir=workdir)
            final_rows = enrolment_count(cursor)
            size = sizes(cursor)
        conn.close()
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            admin = psycopg.connect(pg_url.rsplit("/", 1)[0] + "/postgres", autocommit=True)
            admin.execute(f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
            admin.close()

    vault = size["escrow_enrolment"] + size["escrow_blindindex"]
    print()
    print(f"gunicorn sync workers {args.workers}, wrk connections {args.connections}, "
          f"{args.rounds} x {args.duration} s per figure, medians; loopback")
    print(f"empty phase: {empty_rows:,} enrolments at its end; loaded phase: "
          f"{loaded_rows:,} at its start, {final_rows:,} at its end")
    print(f"bulk load: {load['rows']:,} rows replicated from {load['samples']} real rows in "
          f"{load['seconds']:.0f} s ({load['rows'] / max(load['seconds'], 1e-9):,.0f} rows/s); "
          f"then {args.api_tail:,} real enrolments through the API")
    print("  real: sealed envelopes (copied from sample rows), pseudonym derivation, "
          "blind-index kinds, all API-enrolled rows")
    print("  replicated: ids, random blind-index digests and fingerprints, copied "
          "audit-event entries (not sequenced into the log)")
    print(f"{'figure':28s} {'empty':>10s} {'loaded':>10s} {'ratio':>7s}  (goal: within 20%)")
    verdicts = []
    for name, label in (("enrol", "enrolment req/s"), ("lookup", "pseudonym lookup req/s"),
                        ("match", "blind-index match req/s")):
        ratio = loaded[name]["rps"] / empty[name]["rps"]
        verdicts.append(ratio >= 0.8)
        print(f"{label:28s} {empty[name]['rps']:10.1f} {loaded[name]['rps']:10.1f} "
              f"{ratio:7.2f}  {'met' if ratio >= 0.8 else 'NOT met'}")
        for key in ("p50_ms", "p99_ms"):
            print(f"  {key:26s} {empty[name][key]:10.2f} {loaded[name][key]:10.2f} "
                  f"{loaded[name][key] / max(empty[name][key], 1e-9):7.2f}")
    print(f"matches named by one loaded-phase match answer: {matched}")
    for table, nbytes in size.items():
        print(f"{table:28s} {nbytes / 2**20:10.1f} MiB  {nbytes / final_rows:8.0f} bytes/identity")
    print(f"{'vault (enrolment+blind index)':28s} {vault / 2**20:10.1f} MiB  "
          f"{vault / final_rows:8.0f} bytes/identity")
    print("goal met" if all(verdicts) else "goal NOT met for every figure")


if __name__ == "__main__":
    main()
