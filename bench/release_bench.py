"""Benchmark: from the last custodian partial to the disclosure package being ready.

Run from the repository root:  python bench/release_bench.py [--repeat N]
(uses DATABASE_URL like the service; a throwaway test database is created and dropped).

For one and for fifty pseudonyms in one request (four fields each), it times the k-th
partial's upload (its DLEQ verification and recording) plus the release itself:
re-verifying and combining the k partials, opening the fields, writing the release
event, waiting for the log to cover it with a signed checkpoint, building, rendering
and sealing the package, and storing it. The Celery hop is left out: the task runs
in-process when the upload commits.

The machine is shared and noisy, so each figure is printed next to two baselines
measured in the same run, with the ratio: one bare libsodium scalar multiplication,
and the floor the log imposes on any release (one audit event written and waited for
until a signed checkpoint covers it). Compare ratios across runs, not milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# In-process tasks: the release runs inline when the k-th upload commits, so the timing
# leaves out only the broker hop.
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"

import django

django.setup()

import nacl.bindings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from escrow.crypto import group  # noqa: E402
from escrow.crypto.release import partial_decrypt, release_context  # noqa: E402
from escrow.log.events import Actor, event_record  # noqa: E402

FIELDS = ["given_name", "family_name", "email", "phone"]
GOAL_ONE_PSEUDONYM_S = 1.0


def _release_once(world: Any, pseudonyms: int) -> float:
    from legal_requests.models import Release
    from legal_requests.services.release.challenge import release_challenge_get
    from legal_requests.services.release.partials import release_partial_submit
    from tests.release.conftest import approved_request, enrol

    enrolments = [enrol(world, n) for n in range(pseudonyms)]
    request = approved_request(world, enrolments, fields=FIELDS)
    challenge = release_challenge_get(disclosure=request, custodian=world.custodians["frank"])
    points = [item.point for item in challenge.items]
    context = release_context(request_id=str(request.pk),
                              approval_log_index=challenge.approval_proof.log_index)
    partials = {
        name: partial_decrypt(share=world.share(name), public_key=world.keypair.public_key,
                              points=points, context=context).to_dict()
        for name in ("frank", "grace", "heidi")
    }
    for name in ("frank", "grace"):
        release_partial_submit(
            disclosure=request, custodian=world.custodians[name], partial_data=partials[name]
        )
    start = time.perf_counter()
    outcome = release_partial_submit(
        disclosure=request, custodian=world.custodians["heidi"],
        partial_data=partials["heidi"],
    )
    # Tasks run in-process here, so the release task ran when the upload committed.
    elapsed = time.perf_counter() - start
    assert outcome.release_started
    assert Release.objects.filter(request=request, package_sealed__isnull=False).exists()
    return elapsed


def _log_floor() -> float:
    from escrow.log.services import log_wait_for_checkpoint

    start = time.perf_counter()
    with transaction.atomic():
        event = event_record(event_type="bench.baseline", actor=Actor.system("bench"))
    log_wait_for_checkpoint(event_id=event.pk, timeout=30)
    return time.perf_counter() - start


def _scalarmult() -> float:
    point = group.point_base_mul(group.scalar_random())
    scalar = group.scalar_random()
    number = 200
    start = time.perf_counter()
    for _ in range(number):
        nacl.bindings.crypto_scalarmult_ed25519_noclamp(scalar, point)
    return (time.perf_counter() - start) / number


def _measure(fn: Callable[[], float], repeat: int) -> tuple[list[float], list[float], list[float]]:
    ops, floors, mults = [], [], []
    for _ in range(repeat):
        # Interleaved, so a burst of load hits the operation and its baselines alike.
        ops.append(fn())
        floors.append(_log_floor())
        mults.append(_scalarmult())
    return ops, floors, mults


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--many", type=int, default=50, help="pseudonyms in the large case")
    args = parser.parse_args()

    from django.core import mail
    from django.test.utils import override_settings

    setup_test_environment()
    mail.outbox = []
    old_name = connection.settings_dict["NAME"]
    # A throwaway database, as the test runner makes one; dropped at the end.
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        from tests.release.conftest import world_build

        with override_settings(RELEASE_CHALLENGE_LOG_WAIT_SECONDS=30.0):
            world = world_build()
            _log_floor()  # the log's first checkpoint and lazy imports
            print(f"database: {connection.vendor}; {len(FIELDS)} fields per pseudonym; "
                  f"3-of-5 key; median of {args.repeat} runs")
            print(f"{'pseudonyms':>10} {'points':>7} {'last partial -> package':>24}"
                  f" {'x log floor':>12} {'x scalarmult':>13}")
            for pseudonyms, repeat in ((1, args.repeat), (args.many, max(2, args.repeat // 2))):
                ops, floors, mults = _measure(lambda n=pseudonyms: _release_once(world, n),
                                              repeat)
                median = statistics.median(ops)
                floor_ratio = statistics.median(o / f for o, f in zip(ops, floors, strict=True))
                mult_ratio = statistics.median(o / m for o, m in zip(ops, mults, strict=True))
                print(f"{pseudonyms:>10} {pseudonyms * len(FIELDS):>7} "
                      f"{median * 1000:>21.1f} ms {floor_ratio:>11.1f}x {mult_ratio:>12.0f}x")
                if pseudonyms == 1:
                    verdict = "meets" if median < GOAL_ONE_PSEUDONYM_S else "MISSES"
                    one = median
            print(f"baselines: log floor {statistics.median(floors) * 1000:.1f} ms, "
                  f"scalar multiplication {statistics.median(mults) * 1e6:.1f} us")
            print(f"goal: under {GOAL_ONE_PSEUDONYM_S:.0f} s for one pseudonym - "
                  f"{verdict} it ({one * 1000:.0f} ms)")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
