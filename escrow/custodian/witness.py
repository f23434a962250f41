"""A reference witness: check that the log only grows, then cosign its checkpoint.

Run by a party outside the operator (another organisation, an auditor), with no Django
and no database, only the crypto core and the log's public C2SP resources:

    python -m escrow.custodian.witness keygen --name witness.example/wendy --key-file K
    python -m escrow.custodian.witness cosign --server URL --log-key VKEY --key-file K \\
        --state STATE [--every SECONDS]

Each round fetches the latest checkpoint, verifies the log's signature, proves it
consistent with the last checkpoint this witness cosigned (RFC 9162 s2.1.4, from the
hash tiles, checked against both signed roots), adds a C2SP tlog-cosignature line and
hands it to the log's /log/cosignature endpoint (once per checkpoint: a round that finds
the one it cosigned last sends nothing). The state file moves on only after all of that
succeeded; a checkpoint that is older than it or inconsistent with it is never
cosigned, and the witness stops so a person looks at the evidence.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from escrow.crypto.checkpoint import CheckpointError, checkpoint_open
from escrow.crypto.cosignature import Cosigner, cosigner_key_generate, cosigner_key_parse
from escrow.crypto.note import NoteError, Verifier, note_open, note_sign
from escrow.custodian.errors import CustodianToolError, fail
from escrow.custodian.logview import (
    LogForked,
    checkpoint_consistent,
    log_verifier,
    state_load,
    state_save,
)
from escrow.custodian.service import (
    Service,
    checkpoint_fetch,
    cosignature_submit,
    tiles_reader,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_FORKED = 2


def witness_round(
    service: Service, *, verifier: Verifier, origin: str, name: str,
    private_key: Ed25519PrivateKey, state_path: Path, now: int,
) -> int:
    """Verify and cosign the log's latest checkpoint; its tree size. LogForked on a fork."""
    message = checkpoint_fetch(service)
    try:
        checkpoint = checkpoint_open(message=message, verifier=verifier, origin=origin)
        note = note_open(message=message, verifiers=[verifier])
    except (NoteError, CheckpointError) as exc:
        fail(f"the log's checkpoint does NOT verify against its key: {exc}")
    seen = state_load(state_path, verifier=verifier, origin=origin)
    if seen is not None:
        if checkpoint.size < seen.size:
            # C2SP tlog-witness: never cosign a checkpoint older than the latest cosigned.
            raise LogForked(f"the log's checkpoint went back from size {seen.size} to "
                            f"{checkpoint.size}; not cosigning")
        checkpoint_consistent(seen=seen, new=checkpoint, read_tiles=tiles_reader(service))
        if checkpoint.size == seen.size:
            # The same tree (consistent at the same size), cosigned last round: the log
            # keeps a witness's first cosignature of a checkpoint, so nothing is sent.
            return checkpoint.size
    # The log's own signature (the only one note_open verified) stays; ours is added.
    cosigned = note_sign(
        text=note.text, signers=[Cosigner(name=name, private_key=private_key, timestamp=now)],
        signatures=note.signatures,
    )
    cosignature_submit(service, cosigned_checkpoint=cosigned)
    state_save(state_path, message=message)
    return checkpoint.size


def cmd_keygen(args: argparse.Namespace) -> int:
    skey, vkey = cosigner_key_generate(name=args.name)
    try:
        descriptor = os.open(args.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fail(f"{args.key_file} exists; a witness key is never overwritten")
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(skey + "\n")
    print(vkey)
    return EXIT_OK


def cmd_cosign(args: argparse.Namespace) -> int:
    verifier = log_verifier(args.log_key)
    try:
        name, private_key = cosigner_key_parse(Path(args.key_file).read_text().strip())
    except OSError as exc:
        fail(f"cannot read the witness key: {exc.strerror}")
    except NoteError as exc:
        fail(f"the witness key file holds no witness signer key: {exc}")
    service = Service(base_url=args.server)
    # In a loop, a line only when something changed: the same size cosigned again, or the
    # same failure again (a service still starting), is not news.
    reported: int | str | None = None
    while True:
        try:
            size = witness_round(
                service, verifier=verifier, origin=args.log_origin or verifier.name,
                name=name, private_key=private_key, state_path=Path(args.state),
                now=int(time.time()),
            )
            if size != reported:
                print(f"cosigned the checkpoint of size {size}", flush=True)
            reported = size
        except LogForked:
            raise
        except CustodianToolError as exc:
            if not args.every:
                raise
            if str(exc) != reported:
                print(f"escrow-witness: {exc}; trying again", file=sys.stderr, flush=True)
            reported = str(exc)
        if not args.every:
            return EXIT_OK
        time.sleep(args.every)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="escrow-witness",
        description="A witness for the escrow's audit log: verify consistency and cosign.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="create a witness key; print its verifier key")
    keygen.add_argument("--name", required=True, help="the witness's key name, e.g. a domain")
    keygen.add_argument("--key-file", required=True, help="where to write the secret key")
    keygen.set_defaults(handler=cmd_keygen)

    cosign = commands.add_parser("cosign", help="verify the latest checkpoint and cosign it")
    cosign.add_argument("--server", required=True, help="the escrow service's base URL")
    cosign.add_argument("--log-key", required=True, help="the log's verifier key")
    cosign.add_argument("--log-origin", help="the log's origin line (default: the key's name)")
    cosign.add_argument("--key-file", required=True, help="this witness's secret key file")
    cosign.add_argument("--state", required=True,
                        help="file holding the last checkpoint this witness cosigned")
    cosign.add_argument("--every", type=float, metavar="SECONDS",
                        help="keep cosigning, one round every SECONDS (default: one round)")
    cosign.set_defaults(handler=cmd_cosign)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except LogForked as exc:
        print(f"escrow-witness: {exc}", file=sys.stderr)
        return EXIT_FORKED
    except CustodianToolError as exc:
        print(f"escrow-witness: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
