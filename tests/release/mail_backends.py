"""A mail server that is down: every send raises, as smtplib does when the server hangs up."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from typing import Any

from django.core.mail.backends.base import BaseEmailBackend

# What the failing server was asked to send (for tests to show nothing went out).
attempts: list[str] = []


class FailingEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[Any]) -> int:
        for message in email_messages:
            attempts.append(message.subject)
        # The text quotes the recipient, as real SMTP errors do: it must not reach a log.
        recipients = ", ".join(r for m in email_messages for r in m.to)
        raise smtplib.SMTPServerDisconnected(f"connection lost while sending to {recipients}")
