"""The custodian tool's client of the service: JSON over HTTP(S), and the log's public
C2SP resources (checkpoint, hash tiles, cosignatures); standard library only.

The answers are not trusted here; `escrow.custodian.challenge` checks what matters.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from escrow.crypto.tiles import ReadTiles, TileRef
from escrow.custodian.errors import CustodianToolError, fail

TIMEOUT_SECONDS = 60
JSON = "application/json"
CHECKPOINT_PATIENCE_SECONDS = 60
CHECKPOINT_POLL_SECONDS = 3


class ServiceRefused(CustodianToolError):
    """The service answered with an RFC 9457 problem."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class Service:
    base_url: str
    token: str | None = None

    def _request(
        self, method: str, path: str, *, accept: str, data: bytes | None = None,
        content_type: str | None = None,
    ) -> bytes:
        url = urllib.parse.urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/"))
        # urlopen would also follow file: and ftp: URLs.
        if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
            fail("the server URL must be http(s)")
        headers = {"Accept": accept}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310  # nosec B310
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310  # nosec B310
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            raise _refusal(exc) from None
        except urllib.error.URLError as exc:
            fail(f"cannot reach {self.base_url}: {exc.reason}")

    def get(self, path: str) -> Any:
        return json.loads(self._request("GET", path, accept=JSON) or b"null")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = self._request("POST", path, accept=JSON, data=json.dumps(body).encode(),
                               content_type=JSON)
        return json.loads(answer or b"null")

    def get_bytes(self, path: str, *, accept: str) -> bytes:
        return self._request("GET", path, accept=accept)

    def post_text(self, path: str, text: bytes) -> Any:
        answer = self._request("POST", path, accept=JSON, data=text,
                               content_type="text/plain; charset=utf-8")
        return json.loads(answer or b"null")


def _refusal(exc: urllib.error.HTTPError) -> ServiceRefused:
    # RFC 9457: title, detail and the service's own `code` and `reason` members.
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


def token_request(service: Service, *, username: str, password: str, otp_code: str) -> str:
    answer = service.post(
        "/api/v1/auth/token", {"username": username, "password": password, "otp_code": otp_code}
    )
    token = answer.get("token") if isinstance(answer, dict) else None
    if not isinstance(token, str):
        fail("the server did not return a token")
    return token


def _release_path(request_id: str, resource: str) -> str:
    return f"/api/v1/releases/{urllib.parse.quote(request_id)}/{resource}"


def challenge_fetch(service: Service, *, request_id: str, epoch: int | None = None) -> Any:
    """The release challenge for escrow key `epoch` (the server's choice if None),
    unchecked: `challenge_verify` decides whether to believe it."""
    path = _release_path(request_id, "challenge")
    if epoch is not None:
        path += f"?epoch={epoch}"
    deadline = time.monotonic() + CHECKPOINT_PATIENCE_SECONDS
    while True:
        try:
            return service.get(path)
        except ServiceRefused as exc:
            # A fresh approval is in the log within seconds; wait for its checkpoint.
            if exc.code != "approval_not_checkpointed" or time.monotonic() > deadline:
                raise
            print("The approval is not yet in a signed checkpoint; waiting...", file=sys.stderr)
            time.sleep(CHECKPOINT_POLL_SECONDS)


def answer_send(service: Service, *, request_id: str, answer: dict[str, Any]) -> Any:
    """Upload a partial decryption or a refusal; one answer per custodian and request."""
    return service.post(_release_path(request_id, "partials"), answer)


# --- the log's public C2SP resources (no sign-in) ---------------------------------------


def checkpoint_fetch(service: Service) -> bytes:
    """The log's latest signed checkpoint with its cosignatures, unchecked."""
    return service.get_bytes("/log/checkpoint", accept="text/plain")


def tiles_reader(service: Service) -> ReadTiles:
    """`read_tiles` over the log's C2SP tlog-tiles hash tiles: untrusted bytes, which
    only proofs checked against signed roots ever rely on."""

    def read(tiles: Sequence[TileRef]) -> list[bytes]:
        return [service.get_bytes(f"/log/{tile.path}", accept="application/octet-stream")
                for tile in tiles]

    return read


def cosignature_submit(service: Service, *, cosigned_checkpoint: bytes) -> Any:
    """Hand the checkpoint with a witness's cosignature line back to the log."""
    return service.post_text("/log/cosignature", cosigned_checkpoint)
