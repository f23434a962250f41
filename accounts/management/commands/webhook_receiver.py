"""A platform's webhook receiver for the demo: verifies each delivery and prints it."""

from __future__ import annotations

import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

MAX_BODY_BYTES = 1 << 20


def delivery_verify(*, secret_file: Path, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The payload if the Standard Webhooks signature verifies with a secret on file.

    The file holds one `whsec_` secret a line (one per endpoint that posts here) and is
    read for each delivery, so a secret from a new endpoint or a rotation can be added
    while the receiver runs. Raises WebhookVerificationError if none verifies.
    """
    for secret in secret_file.read_text().split():
        try:
            return dict(Webhook(secret).verify(body, headers))
        except WebhookVerificationError:
            continue
    raise WebhookVerificationError("no secret on file verifies the signature")


def delivery_summary(payload: dict[str, Any]) -> str:
    # The events carry no identity (a pseudonym, the request's reference, the agency),
    # so the data is printed as it came, for a newcomer to see what a platform gets.
    data = json.dumps(payload.get("data", {}), sort_keys=True)
    return f"{payload.get('type', '?')} {data}"


class Command(BaseCommand):
    help = (
        "Listen on 127.0.0.1:PORT for webhook deliveries, verify each Standard Webhooks "
        "signature with a signing secret in --secret-file, and print what arrived."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--secret-file", type=Path, required=True,
                            help="whsec_... signing secrets, one a line")

    def handle(self, *args: Any, **options: Any) -> None:
        secret_file: Path = options["secret_file"]
        if not secret_file.is_file():
            raise CommandError("the secret file does not exist (run demo_setup first)")

        def write(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()  # each delivery as it comes, also when piped

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self._answer(413)
                    return
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload = delivery_verify(secret_file=secret_file, headers=headers,
                                              body=body)
                except WebhookVerificationError:
                    write(f"webhook receiver: REJECTED {headers.get('webhook-id', '?')}: "
                          "signature does not verify")
                    self._answer(401)
                    return
                write(f"webhook receiver: verified {headers['webhook-id']} "
                      f"{delivery_summary(payload)}")
                self._answer(204)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # one line per delivery is printed above

        server = ThreadingHTTPServer(("127.0.0.1", options["port"]), Handler)
        # Started in the background by `make demo`, SIGINT would be ignored: handle both.
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, lambda signum, frame: threading.Thread(
                target=server.shutdown, daemon=True).start())
        write(f"webhook receiver: listening on http://127.0.0.1:{options['port']}/")
        try:
            server.serve_forever()
        finally:
            server.server_close()
