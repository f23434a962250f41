"""The custodian's share file: opened and Feldman-checked here, and matched to a release."""

from __future__ import annotations

from pathlib import Path

from escrow.crypto.sharefile import (
    ShareFileFormatError,
    WeakPassphrase,
    WrongPassphrase,
    share_file_header,
    share_file_open,
    share_file_reseal,
)
from escrow.crypto.threshold import (
    CustodianShare,
    EscrowPublicKey,
    InvalidPublicKey,
    ShareVerificationError,
)
from escrow.custodian.challenge import VerifiedChallenge
from escrow.custodian.errors import fail
from escrow.custodian.files import private_file_write


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        fail(f"cannot read the share file: {exc.strerror}")


def share_open(*, path: str, passphrase: str) -> tuple[CustodianShare, EscrowPublicKey]:
    """The share and the public key its file carries, after the Feldman check."""
    data = _read(path)
    try:
        return share_file_open(data=data, passphrase=passphrase)
    except WrongPassphrase:
        fail("the passphrase does not open this share file (or the file was altered)")
    except ShareVerificationError as exc:
        fail(f"the share FAILS the Feldman check: {exc}")
    except (ShareFileFormatError, InvalidPublicKey) as exc:
        fail(f"the share file is not valid: {exc}")


def share_epoch(path: str) -> int:
    """The escrow key epoch a share file is for, read without its passphrase (the file
    is authenticated when it is opened, and checked against the challenge then)."""
    try:
        return share_file_header(_read(path)).epoch
    except ShareFileFormatError as exc:
        fail(f"the share file is not valid: {exc}")


def share_reseal(*, path: str, passphrase: str, new_passphrase: str, output: str) -> None:
    """Seal the share in `path` under a new passphrase, into `output` (may be `path`).

    The new file replaces `output` in one rename, so an interrupted run leaves the old
    file whole; it is readable by its owner only.
    """
    data = _read(path)
    try:
        resealed = share_file_reseal(data=data, passphrase=passphrase,
                                     new_passphrase=new_passphrase)
    except WeakPassphrase as exc:
        fail(f"the new {exc}")
    except WrongPassphrase:
        fail("the passphrase does not open this share file (or the file was altered)")
    except (ShareFileFormatError, ShareVerificationError, InvalidPublicKey) as exc:
        fail(f"the share file is not valid: {exc}")
    private_file_write(Path(output), resealed)


def share_check_release(
    *, share: CustodianShare, public_key: EscrowPublicKey, verified: VerifiedChallenge
) -> None:
    """The share is the one the server is releasing under: same key, epoch and index."""
    if public_key.fingerprint().hex() != verified.key_fingerprint:
        fail("the server is releasing under another escrow key than your share file's")
    if share.epoch != verified.epoch:
        fail(f"your share is for epoch {share.epoch}, the release is under {verified.epoch}")
    if share.index != verified.custodian_index:
        fail(f"your share is index {share.index}; the server has you as "
             f"{verified.custodian_index}")
