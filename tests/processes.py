"""The project's own processes started for a test: output kept, waited on, always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


def database_url(settings_dict: dict[str, Any], *, name: str | None = None) -> str:
    """A postgres:// URL for a subprocess, to the same server (database `name` if given)."""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    return (f"postgres://{settings_dict['USER']}{password}@"
            f"{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}/"
            f"{name or settings_dict['NAME']}")


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


class Started:
    """A subprocess in a session of its own; its output (stdout and stderr) is drained
    in the background, or a full pipe would block it."""

    def __init__(self, argv: list[str], *, env: dict[str, str]) -> None:
        self.output: list[str] = []
        self.process = subprocess.Popen(  # noqa: S603 - the project's own commands
            argv, env={**os.environ, "PYTHONUNBUFFERED": "1", **env}, cwd=REPO,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    @property
    def text(self) -> str:
        return "".join(self.output)

    def wait_for(self, needle: str, *, timeout: float) -> None:
        def seen() -> bool:
            if self.process.poll() is not None and needle not in self.text:
                pytest.fail(f"exited ({self.process.returncode}) before {needle!r}:\n"
                            + self.text[-4000:])
            return needle in self.text

        wait_until(seen, timeout=timeout, what=f"{needle!r} in:\n{self.text[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM, *, timeout: float = 30) -> int:
        """Signal the whole session (as Ctrl-C would a terminal); kill it if it lingers."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
