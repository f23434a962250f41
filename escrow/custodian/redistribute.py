"""`escrow-custodian redistribute`: hand the escrow key to new custodians, offline.

A new custodian first makes a single-use transport key (`keygen`) and gives its public
half to the dealers. Each of the k dealing custodians runs `deal` with their share file:
it writes one public dealing and, for every new custodian, their sub-share sealed to
that custodian's transport key (libsodium sealed box), so the files can travel by any
channel. Each new custodian runs `accept`: every dealing and sub-share is verified
(a cheating dealer is named), and the new share is sealed into a share file under a
passphrase that must pass the strength check. The transport key is deleted afterwards,
which makes the sealed sub-shares unreadable.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from escrow.crypto.errors import CryptoError
from escrow.crypto.package import (
    PackageKeyError,
    PackageOpenError,
    package_open_as_recipient,
    package_seal_to_recipient,
    recipient_key_parse,
    recipient_keypair_generate,
)
from escrow.crypto.redistribution import (
    Dealing,
    SubShare,
    redistribution_accept,
    redistribution_deal,
)
from escrow.crypto.sharefile import WeakPassphrase, share_file_seal
from escrow.crypto.threshold import CustodianShare, EscrowPublicKey
from escrow.custodian.errors import fail
from escrow.custodian.files import private_file_write


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path.name}: {exc.strerror}")


def transport_keygen(*, output: Path) -> str:
    """Write a fresh transport private key to `output`; return the public key in base64."""
    private, public = recipient_keypair_generate()
    private_file_write(output, base64.b64encode(private) + b"\n")
    return base64.b64encode(public).decode("ascii")


def dealing_name(dealer: int) -> str:
    return f"dealing-{dealer}.bin"


def sub_share_name(dealer: int, recipient: int) -> str:
    return f"sub-share-{dealer}-to-{recipient}.sealed"


def redistribute_deal(
    *,
    share: CustodianShare,
    public_key: EscrowPublicKey,
    dealers: list[int],
    new_threshold: int,
    recipient_keys: list[str],
    output_dir: Path,
) -> list[Path]:
    """Deal this custodian's weighted share to len(recipient_keys) new custodians."""
    try:
        keys = [recipient_key_parse(text) for text in recipient_keys]
    except PackageKeyError as exc:
        fail(f"a new custodian's transport key is not valid: {exc}")
    try:
        dealing, sub_shares = redistribution_deal(
            share=share,
            public_key=public_key,
            dealers=dealers,
            new_threshold=new_threshold,
            new_custodians=len(keys),
        )
    except CryptoError as exc:
        fail(f"cannot deal: {exc}")
    written = [output_dir / dealing_name(share.index)]
    private_file_write(written[0], dealing.to_bytes())
    for sub_share, key in zip(sub_shares, keys, strict=True):
        sealed = package_seal_to_recipient(recipient_public_key=key, plaintext=sub_share.to_bytes())
        written.append(output_dir / sub_share_name(share.index, sub_share.recipient_index))
        private_file_write(written[-1], sealed)
    return written


@dataclass(frozen=True)
class Received:
    dealings: list[Dealing]
    sub_shares: list[SubShare]


def _transport_private_key(path: Path) -> bytes:
    try:
        raw = base64.b64decode(_read(path).strip(), validate=True)
    except ValueError:
        fail("the transport key file is not valid")
    if len(raw) != 32:
        fail("the transport key file is not valid")
    return raw


def received_load(*, input_dir: Path, recipient_index: int, transport_key: Path) -> Received:
    """Every dealing in `input_dir` and this custodian's sub-share from each dealer."""
    private = _transport_private_key(transport_key)
    dealings: list[Dealing] = []
    sub_shares: list[SubShare] = []
    try:
        for path in sorted(input_dir.glob("dealing-*.bin")):
            dealing = Dealing.from_bytes(_read(path))
            dealings.append(dealing)
            sealed = input_dir / sub_share_name(dealing.dealer_index, recipient_index)
            if not sealed.exists():
                fail(f"no sub-share from custodian {dealing.dealer_index} for you")
            opened = package_open_as_recipient(recipient_private_key=private, sealed=_read(sealed))
            sub_shares.append(SubShare.from_bytes(opened))
    except PackageOpenError:
        fail("a sub-share does not open with your transport key (sealed to someone else?)")
    except CryptoError as exc:
        fail(f"a redistribution message is not valid: {exc}")
    if not dealings:
        fail("no dealings found")
    return Received(dealings=dealings, sub_shares=sub_shares)


def redistribute_accept(
    *,
    old_public_key: EscrowPublicKey,
    received: Received,
    recipient_index: int,
    custodian_label: str,
    passphrase: str,
) -> tuple[EscrowPublicKey, bytes]:
    """The new public key and the new share file's bytes, after every check."""
    try:
        new_key, share = redistribution_accept(
            old_public_key=old_public_key,
            dealings=received.dealings,
            sub_shares=received.sub_shares,
            recipient_index=recipient_index,
        )
    except CryptoError as exc:
        fail(f"the redistribution is REFUSED: {exc}")
    try:
        data = share_file_seal(
            share=share, public_key=new_key, custodian_label=custodian_label, passphrase=passphrase
        )
    except WeakPassphrase as exc:
        fail(f"the new {exc}")
    except CryptoError as exc:
        fail(f"cannot seal the new share file: {exc}")
    return new_key, data
