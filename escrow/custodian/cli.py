"""escrow-custodian: a key custodian's tool for threshold releases.

Runs on the custodian's own machine with no Django, no database and no trust in the
server beyond what it can check itself:

* the approval of the request is leaf `log_index` of a checkpoint signed by the log
  key the custodian supplies (--log-key), proved with the inclusion proof over the
  leaf bytes the tool hashes itself;
* what the custodian is shown (legal basis, fields, pseudonym count, expiry) and the
  records the points belong to match what that logged approval says;
* the share file passes the Feldman check against its own public key, and that key is
  the one the server is releasing under.

Only then does it ask for the share passphrase, compute x_i R with a DLEQ proof for
each point, and upload them. See docs/custodian-tool.md.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import getpass
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from escrow.crypto.checkpoint import Checkpoint, CheckpointError, checkpoint_open
from escrow.crypto.envelope import FieldContext, point_commitment
from escrow.crypto.errors import CryptoError
from escrow.crypto.merkle import InclusionProofError, inclusion_verify, leaf_hash
from escrow.crypto.note import NoteError, verifier_parse
from escrow.crypto.release import partial_decrypt, release_context
from escrow.crypto.sharefile import ShareFileFormatError, WrongPassphrase, share_file_open
from escrow.crypto.threshold import (
    CustodianShare,
    EscrowPublicKey,
    InvalidPublicKey,
    ShareVerificationError,
)

CHALLENGE_FORMAT = "identity-escrow-release-challenge/1"
APPROVAL_EVENT = "disclosure.approved"
TOKEN_ENV = "ESCROW_CUSTODIAN_TOKEN"  # noqa: S105 - the variable's name, not a secret
SERVER_ENV = "ESCROW_SERVER"
TIMEOUT_SECONDS = 60
CHECKPOINT_PATIENCE_SECONDS = 60

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_DECLINED = 3


class CustodianToolError(Exception):
    """Something the custodian must be told about; the tool stops without uploading."""


class ServiceRefused(CustodianToolError):
    """The service answered with an RFC 9457 problem."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _fail(message: str) -> NoReturn:
    raise CustodianToolError(message)


# --- talking to the service ------------------------------------------------------------


@dataclass
class Service:
    base_url: str
    token: str | None = None

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = urllib.parse.urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/"))
        if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
            _fail("the server URL must be http(s)")
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise _problem(exc) from None
        except urllib.error.URLError as exc:
            _fail(f"cannot reach {self.base_url}: {exc.reason}")

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("POST", path, body)


def _problem(exc: urllib.error.HTTPError) -> ServiceRefused:
    try:
        problem = json.loads(exc.read())
    except (ValueError, OSError):
        problem = None
    if not isinstance(problem, dict):
        return ServiceRefused(f"the server answered HTTP {exc.code}", status=exc.code, code="")
    title = problem.get("title") or f"HTTP {exc.code}"
    detail = problem.get("detail")
    code = problem.get("code", "")
    reason = problem.get("reason")
    text = f"the server refused ({exc.code} {code}): {title}"
    if detail:
        text += f" - {detail}"
    if reason:
        text += f" [reason: {reason}]"
    return ServiceRefused(text, status=exc.code, code=str(code))


# --- prompts -------------------------------------------------------------------------------


def _read_secret(prompt: str) -> str:
    # On a terminal, no echo; otherwise (a script, a test) one line from stdin.
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    line = sys.stdin.readline()
    if not line:
        _fail(f"no input for: {prompt.strip()}")
    return line.rstrip("\n")


def _read_line(prompt: str) -> str:
    if sys.stdin.isatty():
        return input(prompt)
    line = sys.stdin.readline()
    if not line:
        _fail(f"no input for: {prompt.strip()}")
    return line.rstrip("\n")


def _sign_in(service: Service, username: str | None) -> str:
    name = username or _read_line("Username: ")
    password = _read_secret("Password: ")
    code = _read_line("One-time code: ").strip()
    answer = service.post(
        "/api/v1/auth/token", {"username": name, "password": password, "otp_code": code}
    )
    token = answer.get("token") if isinstance(answer, dict) else None
    if not isinstance(token, str):
        _fail("the server did not return a token")
    return token


def _authenticated(args: argparse.Namespace) -> Service:
    service = Service(base_url=args.server)
    service.token = os.environ.get(TOKEN_ENV) or _sign_in(service, args.username)
    return service


def _passphrase(args: argparse.Namespace) -> str:
    if getattr(args, "passphrase_file", None):
        return Path(args.passphrase_file).read_text(encoding="utf-8").rstrip("\n")
    return _read_secret("Share passphrase: ")


def _open_share(path: str, passphrase: str) -> tuple[CustodianShare, EscrowPublicKey]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        _fail(f"cannot read the share file: {exc.strerror}")
    try:
        return share_file_open(data=data, passphrase=passphrase)
    except WrongPassphrase:
        _fail("the passphrase does not open this share file (or the file was altered)")
    except ShareVerificationError as exc:
        _fail(f"the share FAILS the Feldman check: {exc}")
    except (ShareFileFormatError, InvalidPublicKey) as exc:
        _fail(f"the share file is not valid: {exc}")


# --- checking the challenge -------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedChallenge:
    request_id: str
    approval_log_index: int
    checkpoint: Checkpoint
    approval: dict[str, Any]
    request: dict[str, Any]
    items: list[dict[str, Any]]
    points: list[bytes]
    epoch: int
    key_fingerprint: str
    custodian_index: int


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        _fail(f"the challenge's {what} is not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        _fail(f"the challenge's {what} is not base64")


def _get(mapping: object, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(mapping, dict) or not isinstance(mapping.get(key), kind):
        _fail(f"the challenge is malformed: {what}")
    return mapping[key]


def challenge_verify(
    challenge: Any, *, request_id: str, log_key: str, log_origin: str | None,
    now: datetime | None = None,
) -> VerifiedChallenge:
    """Every check the tool makes before the custodian is even asked to consent."""
    if _get(challenge, "format", str, "format") != CHALLENGE_FORMAT:
        _fail("unknown challenge format; update the tool")
    request = _get(challenge, "request", dict, "request")
    context = _get(challenge, "context", dict, "context")
    approval = _get(challenge, "approval", dict, "approval")
    if request.get("id") != request_id or context.get("request_id") != request_id:
        _fail("the challenge is for another request than the one you asked for")

    # 1. The checkpoint is signed by the log key the custodian trusts.
    try:
        verifier = verifier_parse(log_key)
    except NoteError as exc:
        _fail(f"--log-key is not a verifier key (name+hash+base64): {exc}")
    checkpoint_text = _get(approval, "checkpoint", str, "checkpoint")
    try:
        checkpoint = checkpoint_open(
            message=checkpoint_text.encode("utf-8"), verifier=verifier,
            origin=log_origin or verifier.name,
        )
    except (NoteError, CheckpointError) as exc:
        _fail(f"the log checkpoint does NOT verify against your log key: {exc}")

    # 2. The approval event is in that checkpoint's tree: hash the leaf ourselves.
    leaf = _b64(approval.get("leaf"), "approval leaf")
    log_index = _get(approval, "log_index", int, "approval log index")
    proof = [_b64(p, "inclusion proof") for p in _get(approval, "inclusion_proof", list, "proof")]
    try:
        inclusion_verify(
            index=log_index, size=checkpoint.size, leaf_hash=leaf_hash(leaf), proof=proof,
            root=checkpoint.root_hash,
        )
    except InclusionProofError as exc:
        _fail(f"the approval is NOT included in the signed checkpoint: {exc}")
    if context.get("approval_log_index") != log_index:
        _fail("the release context names another approval than the one proved")

    # 3. The leaf is this request's approval, and says what the custodian is shown.
    try:
        entry = json.loads(leaf)
    except ValueError:
        _fail("the approval leaf is not JSON")
    if entry.get("type") != APPROVAL_EVENT or entry.get("object") != (
        f"disclosure_request:{request_id}"
    ):
        _fail("the logged event is not the approval of this request")
    details = entry.get("details") or {}
    fields = _get(request, "fields", list, "fields")
    logged_fields = details.get("fields")
    if not isinstance(logged_fields, list) or not set(fields) <= set(logged_fields):
        _fail("the fields to release are not the ones the logged approval names")
    record_ids = _get(challenge, "record_ids", list, "record ids")
    digest = hashlib.sha256("\n".join(sorted(str(r) for r in record_ids)).encode()).hexdigest()
    if details.get("targets_sha256") != digest or details.get("target_count") != len(record_ids):
        _fail("the pseudonyms to release are not the ones the logged approval names")
    if request.get("pseudonym_count") != len(record_ids):
        _fail("the pseudonym count shown differs from the logged approval")
    if details.get("expires_at") and details["expires_at"] != request.get("expires_at"):
        _fail("the expiry shown differs from the logged approval")
    if details.get("legal_basis") and details["legal_basis"] != (
        (request.get("legal_basis") or {}).get("code")
    ):
        _fail("the legal basis shown differs from the logged approval")
    expires_at = _parse_time(_get(request, "expires_at", str, "expiry"))
    if expires_at <= (now or datetime.now(UTC)):
        _fail("the legal authority for this request has expired")

    # 4. Every point is labelled with an approved record and field of one epoch.
    escrow_key = _get(challenge, "escrow_key", dict, "escrow key")
    epoch = _get(escrow_key, "epoch", int, "epoch")
    items = _get(challenge, "items", list, "items")
    if not items:
        _fail("the challenge names no points")
    points = []
    allowed_records = set(record_ids)
    for item in items:
        if (
            not isinstance(item, dict)
            or item.get("record_id") not in allowed_records
            or item.get("field") not in fields
            or item.get("epoch") != epoch
        ):
            _fail("a point is labelled with a record, field or epoch outside the approval")
        try:
            point = bytes.fromhex(_get(item, "point", str, "point"))
        except ValueError:
            _fail("a point is not hex")
        points.append(point)
    if len({(i["record_id"], i["field"]) for i in items}) != len(items):
        _fail("the challenge names the same field twice")

    # 5. Every point is the one logged when its record was enrolled: the enrolment entry,
    # proved under the same checkpoint, commits to (record, platform, field, epoch, R).
    # Without this a compromised server could show another person's R under an
    # approved label, and the custodian would decrypt it.
    logged_points = _logged_enrolment_points(challenge, checkpoint)
    for item, point in zip(items, points, strict=True):
        expected = logged_points.get(item["record_id"], {}).get(item["field"])
        try:
            context = FieldContext(
                record_id=item["record_id"], platform_id=str(item.get("platform_id")),
                field_name=item["field"], epoch=epoch,
            )
            actual = point_commitment(context=context, ephemeral_point=point).hex()
        except CryptoError:
            _fail("a point or its label is malformed")
        if expected is None or not hmac.compare_digest(expected, actual):
            _fail("a point is NOT the one logged when its record was enrolled")
    return VerifiedChallenge(
        request_id=request_id,
        approval_log_index=log_index,
        checkpoint=checkpoint,
        approval=entry,
        request=request,
        items=items,
        points=points,
        epoch=epoch,
        key_fingerprint=_get(escrow_key, "fingerprint", str, "key fingerprint"),
        custodian_index=_get(_get(challenge, "custodian", dict, "custodian"), "index", int,
                             "custodian index"),
    )


def _logged_enrolment_points(challenge: Any, checkpoint: Any) -> dict[str, dict[str, str]]:
    """record id -> field -> logged point commitment, from proved enrolment entries."""
    logged: dict[str, dict[str, str]] = {}
    for proof in _get(challenge, "enrolments", list, "enrolment proofs"):
        if not isinstance(proof, dict):
            _fail("an enrolment proof is malformed")
        record_id = _get(proof, "record_id", str, "enrolment record id")
        leaf = _b64(proof.get("leaf"), "enrolment leaf")
        path = [_b64(p, "inclusion proof") for p in _get(proof, "inclusion_proof", list, "proof")]
        try:
            inclusion_verify(
                index=_get(proof, "log_index", int, "enrolment log index"), size=checkpoint.size,
                leaf_hash=leaf_hash(leaf), proof=path, root=checkpoint.root_hash,
            )
        except InclusionProofError:
            _fail("a target's enrolment is NOT included in the signed checkpoint")
        try:
            entry = json.loads(leaf)
        except ValueError:
            _fail("an enrolment leaf is not JSON")
        if entry.get("type") != "enrolment.created" or entry.get("object") != (
            f"enrolment:{record_id}"
        ):
            _fail("a logged event is not the enrolment of its target")
        points = (entry.get("details") or {}).get("points")
        if not isinstance(points, dict):
            _fail("a target's enrolment entry commits to no points")
        logged[record_id] = points
    return logged


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        _fail("the expiry is not a date-time")
    if moment.tzinfo is None:
        _fail("the expiry has no time zone")
    return moment


def consent_summary(verified: VerifiedChallenge) -> str:
    request = verified.request
    agency = request.get("agency") or {}
    basis = request.get("legal_basis") or {}
    lines = [
        "",
        "You are asked to release identity data:",
        f"  Request:           {request.get('reference')}",
        f"  Agency:            {agency.get('name')} ({agency.get('jurisdiction')})",
        f"  Legal basis:       {basis.get('name')} [{basis.get('code')}]",
        f"  Issued by:         {request.get('issuing_authority')}",
        f"  Fields:            {', '.join(request.get('fields') or [])}",
        f"  Pseudonyms:        {request.get('pseudonym_count')}",
        f"  Authority expires: {request.get('expires_at')}",
        f"  Emergency:         {'YES' if request.get('is_emergency') else 'no'}",
        f"  Points to decrypt: {len(verified.points)}",
        "",
        f"Checked: the approval is entry {verified.approval_log_index} of the log "
        f"'{verified.checkpoint.origin}', under its signed checkpoint of size "
        f"{verified.checkpoint.size}, and names exactly these fields and pseudonyms.",
        "",
    ]
    return "\n".join(lines)


# --- commands ----------------------------------------------------------------------------------


def _challenge_fetch(service: Service, request_id: str) -> Any:
    path = f"/api/v1/releases/{urllib.parse.quote(request_id)}/challenge"
    deadline = time.monotonic() + CHECKPOINT_PATIENCE_SECONDS
    while True:
        try:
            return service.get(path)
        except ServiceRefused as exc:
            # A fresh approval is in the log within seconds; wait for its checkpoint.
            if exc.code != "approval_not_checkpointed" or time.monotonic() > deadline:
                raise
            print("The approval is not yet in a signed checkpoint; waiting...", file=sys.stderr)
            time.sleep(3)


def cmd_show(args: argparse.Namespace) -> int:
    service = _authenticated(args)
    verified = challenge_verify(
        _challenge_fetch(service, args.request_id), request_id=args.request_id,
        log_key=args.log_key, log_origin=args.log_origin,
    )
    print(consent_summary(verified))
    return EXIT_OK


def cmd_release(args: argparse.Namespace) -> int:
    service = _authenticated(args)
    challenge = _challenge_fetch(service, args.request_id)
    verified = challenge_verify(
        challenge, request_id=args.request_id, log_key=args.log_key, log_origin=args.log_origin
    )
    print(consent_summary(verified))
    if not args.yes:
        answer = _read_line("Release your partial decryption for this request? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("Nothing was sent.")
            return EXIT_DECLINED
    share, public_key = _open_share(args.share, _passphrase(args))
    if public_key.fingerprint().hex() != verified.key_fingerprint:
        _fail("the server is releasing under another escrow key than your share file's")
    if share.epoch != verified.epoch:
        _fail(f"your share is for epoch {share.epoch}, the release is under {verified.epoch}")
    if share.index != verified.custodian_index:
        _fail(f"your share is index {share.index}; the server has you as "
              f"{verified.custodian_index}")
    context = release_context(
        request_id=verified.request_id, approval_log_index=verified.approval_log_index
    )
    try:
        partial = partial_decrypt(
            share=share, public_key=public_key, points=verified.points, context=context
        )
    except CryptoError as exc:
        _fail(f"cannot compute the partial decryption: {exc}")
    del share  # the share scalar is needed no longer
    answer = service.post(
        f"/api/v1/releases/{urllib.parse.quote(args.request_id)}/partials",
        {"partial": partial.to_dict()},
    )
    accepted = answer.get("accepted") if isinstance(answer, dict) else None
    threshold = answer.get("threshold") if isinstance(answer, dict) else None
    print(f"Partial accepted: {accepted} of {threshold} needed are in.")
    if isinstance(answer, dict) and answer.get("release_started"):
        print("The threshold is reached: the release is being prepared.")
    return EXIT_OK


def cmd_refuse(args: argparse.Namespace) -> int:
    reason = args.reason.strip()
    if not reason:
        _fail("a refusal needs a reason")
    service = _authenticated(args)
    service.post(
        f"/api/v1/releases/{urllib.parse.quote(args.request_id)}/partials",
        {"refusal_reason": reason},
    )
    print("Your refusal is recorded.")
    return EXIT_OK


def cmd_login(args: argparse.Namespace) -> int:
    service = Service(base_url=args.server)
    print(_sign_in(service, args.username))
    return EXIT_OK


def cmd_verify_share(args: argparse.Namespace) -> int:
    share, public_key = _open_share(args.file, _passphrase(args))
    fingerprint = public_key.fingerprint().hex()
    if args.fingerprint and args.fingerprint.lower() != fingerprint:
        _fail("the share's public key is NOT the one with the fingerprint you expect")
    print(f"Share {share.index} of {public_key.custodians} (threshold {public_key.threshold}),"
          f" escrow key epoch {share.epoch}")
    print(f"Public key fingerprint: {fingerprint}")
    print("Feldman check passed: the share matches the ceremony's commitments and its "
          "verification key.")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="escrow-custodian",
        description="A key custodian's tool: check a release request and answer it.",
    )
    parser.add_argument("--server", default=os.environ.get(SERVER_ENV, "http://127.0.0.1:8000"),
                        help=f"service base URL (or ${SERVER_ENV})")
    parser.add_argument("--username", help=f"sign in as this user (unless ${TOKEN_ENV} is set)")
    commands = parser.add_subparsers(dest="command", required=True)

    def log_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("request_id", help="the disclosure request's id")
        command.add_argument("--log-key", required=True,
                             help="the audit log's verifier key, name+hash+base64")
        command.add_argument("--log-origin",
                             help="the log's origin line (default: the key's name)")

    release = commands.add_parser("release", help="verify a request and upload your partial")
    log_options(release)
    release.add_argument("--share", required=True, help="your share file")
    release.add_argument("--passphrase-file", help="read the share passphrase from this file")
    release.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    release.set_defaults(handler=cmd_release)

    show = commands.add_parser("show", help="verify and show a request; upload nothing")
    log_options(show)
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
