"""The tool's configuration file: the log and witness keys a custodian trusts.

A small JSON object, by default `~/.config/escrow-custodian/config.json`:

    {"log_key": "<log verifier key>", "log_origin": "<origin line, if not the key name>",
     "witnesses": ["<cosignature/v1 verifier key>", ...], "witness_quorum": 2}

Next to it the tool keeps `checkpoint-state` (its file name, beside the config), the
last checkpoint it accepted (see `escrow.custodian.logview`). Options on the command
line win over the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from escrow.custodian.errors import fail

STATE_FILE_NAME = "checkpoint-state"
_KEYS = {"log_key", "log_origin", "witnesses", "witness_quorum"}


@dataclass(frozen=True)
class ToolConfig:
    log_key: str | None = None
    log_origin: str | None = None
    witnesses: tuple[str, ...] = ()
    witness_quorum: int | None = None
    # None without a config file: then no checkpoint is remembered between runs.
    state_path: Path | None = None


def default_config_path() -> Path:
    return Path.home() / ".config" / "escrow-custodian" / "config.json"


def _optional_text(document: dict[str, Any], key: str) -> str | None:
    value = document.get(key)
    if value is not None and not isinstance(value, str):
        fail(f"the config file's {key} must be text")
    return value


def config_load(path: Path, *, required: bool) -> ToolConfig:
    """The configuration in `path`; an empty one if it does not exist and is not required."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if required:
            fail(f"there is no config file {path}")
        return ToolConfig()
    except OSError as exc:
        fail(f"cannot read the config file {path}: {exc.strerror}")
    except ValueError:
        fail(f"the config file {path} is not JSON")
    if not isinstance(document, dict) or not set(document) <= _KEYS:
        fail(f"the config file {path} holds unknown settings; known: {', '.join(sorted(_KEYS))}")
    witnesses = document.get("witnesses", [])
    if not isinstance(witnesses, list) or not all(isinstance(w, str) for w in witnesses):
        fail("the config file's witnesses must be a list of verifier keys")
    quorum = document.get("witness_quorum")
    if quorum is not None and (type(quorum) is not int or quorum < 1):
        fail("the config file's witness_quorum must be a positive whole number")
    return ToolConfig(
        log_key=_optional_text(document, "log_key"),
        log_origin=_optional_text(document, "log_origin"),
        witnesses=tuple(witnesses),
        witness_quorum=quorum,
        state_path=path.parent / STATE_FILE_NAME,
    )
