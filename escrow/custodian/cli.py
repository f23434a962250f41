"""The `escrow-custodian` command line: arguments, commands, output and exit status.

Each command is a few calls into the other modules of `escrow.custodian`; the exit
statuses and messages are documented in docs/custodian-tool.md.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from escrow.crypto.cosignature import CosignatureVerifier
from escrow.crypto.errors import CryptoError
from escrow.crypto.release import PartialDecryption, partial_decrypt, release_context
from escrow.crypto.threshold import CustodianShare, EscrowPublicKey
from escrow.custodian.challenge import VerifiedChallenge, challenge_verify
from escrow.custodian.config import ToolConfig, config_load, default_config_path
from escrow.custodian.consent import consent_summary
from escrow.custodian.errors import CustodianToolError, fail
from escrow.custodian.files import private_file_write
from escrow.custodian.logview import log_verifier, state_advance, witness_verifiers
from escrow.custodian.prompts import read_line, read_secret
from escrow.custodian.redistribute import (
    received_load,
    redistribute_accept,
    redistribute_deal,
    transport_keygen,
)
from escrow.custodian.service import (
    Service,
    answer_send,
    challenge_fetch,
    tiles_reader,
    token_request,
)
from escrow.custodian.share import share_check_release, share_epoch, share_open, share_reseal

# The tool's own package (packages/escrow-custodian) on a custodian's machine; the whole
# service where it was installed with the server.
DISTRIBUTIONS = ("escrow-custodian", "identity-escrow")
TOKEN_ENV = "ESCROW_CUSTODIAN_TOKEN"  # noqa: S105 - the variable's name, not a secret
SERVER_ENV = "ESCROW_SERVER"
CONFIG_ENV = "ESCROW_CUSTODIAN_CONFIG"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_DECLINED = 3


def tool_version() -> str:
    for distribution in DISTRIBUTIONS:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    # Run from a source tree that was never installed (`python -m escrow.custodian`).
    return "unknown (not installed)"


# --- signing in and reading secrets ------------------------------------------------------


def _sign_in(service: Service, username: str | None) -> str:
    name = username or read_line("Username: ")
    password = read_secret("Password: ")
    code = read_line("One-time code: ").strip()
    return token_request(service, username=name, password=password, otp_code=code)


def _authenticated(args: argparse.Namespace) -> Service:
    service = Service(base_url=args.server)
    service.token = os.environ.get(TOKEN_ENV) or _sign_in(service, args.username)
    return service


def _passphrase(args: argparse.Namespace) -> str:
    if getattr(args, "passphrase_file", None):
        return Path(args.passphrase_file).read_text(encoding="utf-8").rstrip("\n")
    return read_secret("Share passphrase: ")


# --- commands ----------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> ToolConfig:
    if args.config:
        return config_load(Path(args.config), required=True)
    return config_load(default_config_path(), required=False)


def _witnesses_required(witnesses: Sequence[CosignatureVerifier], *, no_witness: bool) -> None:
    """Refuse to trust the log key alone unless the custodian said so with --no-witness.

    Whoever holds the log key (a compromised operator) can sign a private fork and show
    it to one custodian; only independent witnesses' cosignatures rule that out.
    """
    if witnesses and no_witness:
        fail("--no-witness contradicts the witness keys configured (--witness, or "
             "witnesses in the config file); remove one or the other")
    if no_witness:
        print("Warning: --no-witness: this checkpoint is trusted on the log key alone, so "
              "a fork of the log shown to you alone would not be noticed. Use it only for "
              "testing or a single-party deployment (see docs/custodian-tool.md).",
              file=sys.stderr)
    elif not witnesses:
        fail("no witness keys are configured, and a checkpoint signed by the log key alone "
             "may be a fork shown to you alone. Add the witnesses' verifier keys to your "
             'config file ("witnesses": ["<key>", ...], "witness_quorum": N) or pass '
             "--witness KEY for each; for testing or a single-party deployment only, "
             "--no-witness accepts the log key alone (see docs/custodian-tool.md)")


@dataclass(frozen=True)
class _LogTrust:
    """The keys a run believes: the log's, and the witnesses' with their quorum."""

    config: ToolConfig
    log_key: str
    witnesses: tuple[CosignatureVerifier, ...]
    quorum: int


def _log_trust(args: argparse.Namespace) -> _LogTrust:
    """Checked before signing in, so a run that must stop spends no one-time code."""
    config = _config(args)
    log_key = args.log_key or config.log_key
    if not log_key:
        fail("the log's verifier key is needed: --log-key, or log_key in the config file")
    witnesses = witness_verifiers(args.witness or config.witnesses)
    _witnesses_required(witnesses, no_witness=args.no_witness)
    quorum = args.witness_quorum or config.witness_quorum or len(witnesses)
    return _LogTrust(config=config, log_key=log_key, witnesses=witnesses, quorum=quorum)


def _challenge_verified(
    service: Service, args: argparse.Namespace, trust: _LogTrust, *, epoch: int | None
) -> VerifiedChallenge:
    """The challenge for escrow key `epoch`, checked; with a config file, also against the
    last checkpoint seen."""
    config, log_key = trust.config, trust.log_key
    verified = challenge_verify(
        challenge_fetch(service, request_id=args.request_id, epoch=epoch),
        request_id=args.request_id,
        log_key=log_key, log_origin=args.log_origin or config.log_origin,
        witnesses=trust.witnesses, witness_quorum=trust.quorum,
    )
    if config.state_path is not None:
        state_advance(
            config.state_path, verifier=log_verifier(log_key),
            origin=verified.checkpoint.origin, checkpoint=verified.checkpoint,
            message=verified.checkpoint_note.encode("utf-8"), read_tiles=tiles_reader(service),
        )
    return verified


def _partial_compute(
    share: CustodianShare, public_key: EscrowPublicKey, verified: VerifiedChallenge
) -> PartialDecryption:
    context = release_context(
        request_id=verified.request_id, approval_log_index=verified.approval_log_index
    )
    try:
        return partial_decrypt(
            share=share, public_key=public_key, points=verified.points, context=context
        )
    except CryptoError as exc:
        fail(f"cannot compute the partial decryption: {exc}")


def _accepted_report(answer: Any) -> None:
    accepted = answer.get("accepted") if isinstance(answer, dict) else None
    threshold = answer.get("threshold") if isinstance(answer, dict) else None
    print(f"Partial accepted: {accepted} of {threshold} needed are in.")
    if isinstance(answer, dict) and answer.get("release_started"):
        print("The threshold is reached: the release is being prepared.")


def cmd_show(args: argparse.Namespace) -> int:
    trust = _log_trust(args)
    service = _authenticated(args)
    print(consent_summary(_challenge_verified(service, args, trust, epoch=args.epoch)))
    return EXIT_OK


def cmd_release(args: argparse.Namespace) -> int:
    trust = _log_trust(args)
    # The points to answer are those sealed under the share file's own epoch: a request
    # may span epochs, each answered by its own custodians.
    epoch = share_epoch(args.share)
    service = _authenticated(args)
    verified = _challenge_verified(service, args, trust, epoch=epoch)
    print(consent_summary(verified))
    if not args.yes:
        answer = read_line("Release your partial decryption for this request? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("Nothing was sent.")
            return EXIT_DECLINED
    share, public_key = share_open(path=args.share, passphrase=_passphrase(args))
    share_check_release(share=share, public_key=public_key, verified=verified)
    partial = _partial_compute(share, public_key, verified)
    del share  # the share scalar is needed no longer
    _accepted_report(
        answer_send(service, request_id=args.request_id, answer={"partial": partial.to_dict()})
    )
    return EXIT_OK


def cmd_refuse(args: argparse.Namespace) -> int:
    reason = args.reason.strip()
    if not reason:
        fail("a refusal needs a reason")
    service = _authenticated(args)
    answer_send(service, request_id=args.request_id, answer={"refusal_reason": reason})
    print("Your refusal is recorded.")
    return EXIT_OK


def cmd_login(args: argparse.Namespace) -> int:
    service = Service(base_url=args.server)
    print(_sign_in(service, args.username))
    return EXIT_OK


def cmd_verify_share(args: argparse.Namespace) -> int:
    share, public_key = share_open(path=args.file, passphrase=_passphrase(args))
    fingerprint = public_key.fingerprint().hex()
    if args.fingerprint and args.fingerprint.lower() != fingerprint:
        fail("the share's public key is NOT the one with the fingerprint you expect")
    print(f"Share {share.index} of {public_key.custodians} (threshold {public_key.threshold}),"
          f" escrow key epoch {share.epoch}")
    print(f"Public key fingerprint: {fingerprint}")
    print("Feldman check passed: the share matches the ceremony's commitments and its "
          "verification key.")
    return EXIT_OK


def cmd_change_passphrase(args: argparse.Namespace) -> int:
    current = _passphrase(args)
    new = read_secret("New share passphrase: ")
    if read_secret("New share passphrase again: ") != new:
        fail("the new passphrases differ; nothing was changed")
    share_reseal(path=args.file, passphrase=current, new_passphrase=new,
                 output=args.output or args.file)
    print(f"Share file sealed under the new passphrase: {args.output or args.file}")
    return EXIT_OK


def cmd_redistribute_keygen(args: argparse.Namespace) -> int:
    public = transport_keygen(output=Path(args.output))
    print(f"Transport key written to {args.output}; give the dealers this public key:")
    print(public)
    return EXIT_OK


def cmd_redistribute_deal(args: argparse.Namespace) -> int:
    share, public_key = share_open(path=args.share, passphrase=_passphrase(args))
    written = redistribute_deal(
        share=share, public_key=public_key, dealers=args.dealers,
        new_threshold=args.new_threshold, recipient_keys=args.new_custodian,
        output_dir=Path(args.output_dir),
    )
    del share
    print(f"Dealt to {len(args.new_custodian)} new custodians (threshold {args.new_threshold}):")
    for path in written:
        print(f"  {path}")
    print("Once every new custodian has accepted, destroy your old share file.")
    return EXIT_OK


def _old_public_key(args: argparse.Namespace) -> EscrowPublicKey:
    try:
        old_key = EscrowPublicKey.from_dict(json.loads(Path(args.old_public_key).read_bytes()))
    except (OSError, ValueError, CryptoError) as exc:
        fail(f"the old public key file is not valid: {exc}")
    if args.fingerprint and args.fingerprint.lower() != old_key.fingerprint().hex():
        fail("the old public key is NOT the one with the fingerprint you expect")
    return old_key


def cmd_redistribute_accept(args: argparse.Namespace) -> int:
    old_key = _old_public_key(args)
    received = received_load(input_dir=Path(args.input_dir), recipient_index=args.index,
                             transport_key=Path(args.transport_key))
    passphrase = read_secret("New share passphrase: ")
    if read_secret("New share passphrase again: ") != passphrase:
        fail("the passphrases differ; nothing was written")
    new_key, data = redistribute_accept(
        old_public_key=old_key, received=received, recipient_index=args.index,
        custodian_label=args.label, passphrase=passphrase,
    )
    private_file_write(Path(args.output), data)
    # The sealed sub-shares open with this key alone; without it they are noise.
    try:
        Path(args.transport_key).unlink()
    except OSError:
        print(f"Warning: delete {args.transport_key} yourself.", file=sys.stderr)
    print(f"New share {args.index} of {new_key.custodians} (threshold {new_key.threshold}) "
          f"written to {args.output}; the transport key is deleted.")
    print(f"New public key fingerprint: {new_key.fingerprint().hex()}")
    print("Compare it with the other new custodians before the old shares are destroyed.")
    return EXIT_OK


def _index_list(text: str) -> list[int]:
    parts = text.split(",")
    if not all(part.strip().isdigit() for part in parts):
        raise argparse.ArgumentTypeError("must be comma-separated custodian indexes")
    return [int(part) for part in parts]


def _redistribute_options(commands: Any) -> None:
    parser = commands.add_parser(
        "redistribute", help="hand the escrow key to new custodians without rebuilding it"
    )
    steps = parser.add_subparsers(dest="step", required=True)
    keygen = steps.add_parser("keygen", help="new custodian: make a single-use transport key")
    keygen.add_argument("--output", required=True, help="where to write the transport key")
    keygen.set_defaults(handler=cmd_redistribute_keygen)
    deal = steps.add_parser("deal", help="current custodian: deal your share to the new set")
    deal.add_argument("--share", required=True, help="your share file")
    deal.add_argument("--passphrase-file", help="read the share passphrase from this file")
    deal.add_argument("--dealers", required=True, type=_index_list,
                      help="the k dealing custodians' indexes, e.g. 1,3,5")
    deal.add_argument("--new-threshold", required=True, type=_positive)
    deal.add_argument("--new-custodian", required=True, action="append", metavar="KEY",
                      help="a new custodian's transport public key, in index order (repeat)")
    deal.add_argument("--output-dir", required=True)
    deal.set_defaults(handler=cmd_redistribute_deal)
    accept = steps.add_parser("accept", help="new custodian: verify and seal your new share")
    accept.add_argument("input_dir", help="the directory holding the dealers' files")
    accept.add_argument("--old-public-key", required=True, help="the escrow key's JSON")
    accept.add_argument("--fingerprint", help="the old key's fingerprint, published out of band")
    accept.add_argument("--index", required=True, type=_positive, help="your new index")
    accept.add_argument("--transport-key", required=True)
    accept.add_argument("--label", required=True, help="your name on the share file")
    accept.add_argument("--output", required=True, help="the new share file")
    accept.set_defaults(handler=cmd_redistribute_accept)


# --- arguments ---------------------------------------------------------------------------


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a positive whole number")
    return int(text)


def _log_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("request_id", help="the disclosure request's id")
    command.add_argument("--log-key",
                         help="the audit log's verifier key, name+hash+base64 "
                              "(or log_key in the config file)")
    command.add_argument("--log-origin",
                         help="the log's origin line (default: the key's name)")
    command.add_argument("--witness", action="append", metavar="KEY",
                         help="a witness's cosignature/v1 verifier key (repeat for each; "
                              "or witnesses in the config file)")
    command.add_argument("--witness-quorum", type=_positive, metavar="N",
                         help="cosignatures needed on a checkpoint (default: every witness)")
    command.add_argument("--no-witness", action="store_true",
                         help="accept a checkpoint signed by the log key alone, with no "
                              "witness cosignature: for testing or a single-party "
                              "deployment only (otherwise refused)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="escrow-custodian",
        description="A key custodian's tool: check a release request and answer it.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {tool_version()}")
    parser.add_argument("--server", default=os.environ.get(SERVER_ENV, "http://127.0.0.1:8000"),
                        help=f"service base URL (or ${SERVER_ENV})")
    parser.add_argument("--username", help=f"sign in as this user (unless ${TOKEN_ENV} is set)")
    parser.add_argument("--config", default=os.environ.get(CONFIG_ENV),
                        help=f"config file (or ${CONFIG_ENV}; default "
                             "~/.config/escrow-custodian/config.json if it exists)")
    commands = parser.add_subparsers(dest="command", required=True)

    release = commands.add_parser("release", help="verify a request and upload your partial")
    _log_options(release)
    release.add_argument("--share", required=True, help="your share file")
    release.add_argument("--passphrase-file", help="read the share passphrase from this file")
    release.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    release.set_defaults(handler=cmd_release)

    show = commands.add_parser("show", help="verify and show a request; upload nothing")
    _log_options(show)
    show.add_argument("--epoch", type=_positive,
                      help="the escrow key epoch to show the points of, for a request whose "
                           "records span epochs (default: the first you have not answered)")
    show.set_defaults(handler=cmd_show)

    refuse = commands.add_parser("refuse", help="decline to take part, with a reason")
    refuse.add_argument("request_id")
    refuse.add_argument("--reason", required=True)
    refuse.set_defaults(handler=cmd_refuse)

    login = commands.add_parser("login", help=f"sign in and print a token for ${TOKEN_ENV}")
    login.set_defaults(handler=cmd_login)

    verify = commands.add_parser("verify-share", help="Feldman-check a share file")
    verify.add_argument("file")
    verify.add_argument("--passphrase-file")
    verify.add_argument("--fingerprint", help="the public key fingerprint published out of band")
    verify.set_defaults(handler=cmd_verify_share)

    change = commands.add_parser(
        "change-passphrase", help="re-seal a share file under a new, strong passphrase"
    )
    change.add_argument("file")
    change.add_argument("--passphrase-file", help="read the current passphrase from this file")
    change.add_argument("--output", help="write the re-sealed file here (default: replace FILE)")
    change.set_defaults(handler=cmd_change_passphrase)
    _redistribute_options(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except CustodianToolError as exc:
        print(f"escrow-custodian: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\nInterrupted; nothing was sent.", file=sys.stderr)
        return EXIT_DECLINED


if __name__ == "__main__":
    sys.exit(main())
