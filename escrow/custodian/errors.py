"""The one way the custodian tool stops: a message for the custodian, nothing uploaded."""

from __future__ import annotations

from typing import NoReturn


class CustodianToolError(Exception):
    """Something the custodian must be told about; the tool stops without uploading."""


def fail(message: str) -> NoReturn:
    raise CustodianToolError(message)
