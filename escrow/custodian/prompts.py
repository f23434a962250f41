"""Questions to the custodian: from the terminal, or one line each from a script's stdin."""

from __future__ import annotations

import getpass
import sys

from escrow.custodian.errors import fail


def _line_from_stdin(prompt: str) -> str:
    line = sys.stdin.readline()
    if not line:
        fail(f"no input for: {prompt.strip()}")
    return line.rstrip("\n")


def read_secret(prompt: str) -> str:
    # On a terminal, no echo; otherwise (a script, a test) one line from stdin.
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return _line_from_stdin(prompt)


def read_line(prompt: str) -> str:
    if sys.stdin.isatty():
        return input(prompt)
    return _line_from_stdin(prompt)
