"""Benchmark for proactive share redistribution of a 3-of-5 escrow key to a new 3-of-5 board.

Run from the repository root:  python bench/redistribution_bench.py [--repeat N]

One round is what the whole handover costs in CPU: three dealers each deal, and all
five new custodians verify every dealing and accept their share. It is printed next
to one custodian partial decryption (one field, with its DLEQ proof) measured in the
same run, and the ratio between them; the machine is shared and noisy, so compare
ratios across runs, not raw milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from escrow.crypto.redistribution import (
    Dealing,
    SubShare,
    redistribution_accept,
    redistribution_deal,
)
from escrow.crypto.release import partial_decrypt, release_context
from escrow.crypto.threshold import CustodianShare, EscrowPublicKey, ceremony_run

DEALERS = (1, 3, 5)
NEW_THRESHOLD = 3
NEW_CUSTODIANS = 5


def _seconds(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def _round(public_key: EscrowPublicKey, shares: Sequence[CustodianShare]) -> EscrowPublicKey:
    dealings: list[Dealing] = []
    inbox: dict[int, list[SubShare]] = {j: [] for j in range(1, NEW_CUSTODIANS + 1)}
    for i in DEALERS:
        dealing, sub_shares = redistribution_deal(
            share=shares[i - 1],
            public_key=public_key,
            dealers=DEALERS,
            new_threshold=NEW_THRESHOLD,
            new_custodians=NEW_CUSTODIANS,
        )
        dealings.append(dealing)
        for sub_share in sub_shares:
            inbox[sub_share.recipient_index].append(sub_share)
    keys = {
        redistribution_accept(
            old_public_key=public_key, dealings=dealings, sub_shares=received, recipient_index=j
        )[0]
        for j, received in inbox.items()
    }
    (new_key,) = keys
    return new_key


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    public_key, shares = ceremony_run(threshold=3, custodians=5, epoch=1)
    context = release_context(request_id="req_bench", approval_log_index=1)
    point = public_key.verification_keys[0]

    def one_partial() -> object:
        return partial_decrypt(
            share=shares[0], public_key=public_key, points=[point], context=context
        )

    # Interleaved batch by batch, so a burst of load on a shared machine hits both sides.
    pairs = [
        (_seconds(lambda: _round(public_key, shares), 1), _seconds(one_partial, 40))
        for _ in range(args.repeat)
    ]
    handover = statistics.median(h for h, _ in pairs)
    partial = statistics.median(p for _, p in pairs)
    ratio = statistics.median(h / p for h, p in pairs)
    label = "redistribution 3-of-5 -> 3-of-5, deal+verify+accept by all parties"
    print(f"{label}: {handover * 1e3:.1f} ms")
    print(f"one partial decryption (1 field, DLEQ proof): {partial * 1e3:.2f} ms")
    print(f"ratio: {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
