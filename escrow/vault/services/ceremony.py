"""The key ceremony: create the escrow key, hand out sealed shares, forget the secret.

Two halves, so the secret-bearing half can run on an offline machine:
`ceremony_shares_create` needs no database (it returns the public key and one sealed
share file per custodian); `escrow_key_register` records the public parts on the
server, checks them against the custodians named, and makes the key active.
`escrow_key_ceremony` runs both in one process for an online installation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max

from accounts.roles import Role
from escrow.crypto.sharefile import (
    ARGON2_DEFAULT,
    Argon2Params,
    WeakPassphrase,
    passphrase_check,
    share_file_seal,
)
from escrow.crypto.threshold import EscrowPublicKey, ceremony_run
from escrow.log.events import Actor, event_record
from escrow.vault.models import CustodianKey, EscrowKey
from escrow.vault.selectors import escrow_key_cache_clear


class CeremonyRejected(Exception):
    """The ceremony's parameters are unsound (threshold, custodians, passphrases)."""


@dataclass(frozen=True, repr=False)
class CeremonyShares:
    public_key: EscrowPublicKey
    share_files: dict[str, bytes]  # custodian label -> sealed share file, for them only


@dataclass(frozen=True, repr=False)
class CeremonyOutcome:
    escrow_key: EscrowKey
    share_files: dict[str, bytes]


def ceremony_shares_create(
    *,
    threshold: int,
    custodian_labels: Sequence[str],
    passphrases: Sequence[str],
    epoch: int,
    kdf_params: Argon2Params = ARGON2_DEFAULT,
) -> CeremonyShares:
    """Create the key and seal share i for custodian_labels[i-1]. Touches no database."""
    if len(custodian_labels) != len(passphrases):
        raise CeremonyRejected("one passphrase per custodian is needed")
    if len(set(custodian_labels)) != len(custodian_labels):
        raise CeremonyRejected("custodians must be distinct people")
    if not 2 <= threshold <= len(custodian_labels):
        raise CeremonyRejected("the threshold must be at least 2 and at most the custodian count")
    for label, passphrase in zip(custodian_labels, passphrases, strict=True):
        try:  # before the key exists: no share is dealt under a guessable passphrase
            passphrase_check(passphrase, user_inputs=[label])
        except WeakPassphrase as exc:
            raise CeremonyRejected(f"{label}'s share {exc}") from None
    public_key, shares = ceremony_run(
        threshold=threshold, custodians=len(custodian_labels), epoch=epoch
    )
    share_files = {
        label: share_file_seal(
            share=share, public_key=public_key, custodian_label=label,
            passphrase=passphrase, kdf_params=kdf_params,
        )
        for label, share, passphrase in zip(custodian_labels, shares, passphrases, strict=True)
    }
    return CeremonyShares(public_key=public_key, share_files=share_files)


def escrow_key_next_epoch() -> int:
    return (EscrowKey.objects.aggregate(m=Max("epoch"))["m"] or 0) + 1


def escrow_key_register(
    *, public_key: EscrowPublicKey, custodians: Sequence[User], actor: Actor
) -> EscrowKey:
    """Record a ceremony's public parts (share i held by custodians[i-1]) and activate it."""
    if len(custodians) != public_key.custodians:
        raise CeremonyRejected("name exactly one custodian per share, in share order")
    if len({c.pk for c in custodians}) != len(custodians):
        raise CeremonyRejected("custodians must be distinct people")
    if public_key.threshold < 2:
        raise CeremonyRejected("a 1-of-n key would let one person unmask anyone")
    for custodian in custodians:
        if not custodian.groups.filter(name=str(Role.CUSTODIAN)).exists():
            raise CeremonyRejected("every share holder must have the custodian role")
    with transaction.atomic():
        # Serialise registrations: the newest epoch must be unique and increasing.
        list(EscrowKey.objects.select_for_update().values_list("epoch", flat=True))
        if public_key.epoch != escrow_key_next_epoch():
            raise CeremonyRejected("the key's epoch is not the next one; run a new ceremony")
        EscrowKey.objects.filter(is_active=True).update(is_active=False)
        escrow_key = EscrowKey.objects.create(
            epoch=public_key.epoch,
            threshold=public_key.threshold,
            custodian_count=public_key.custodians,
            public_key=public_key.to_dict(),
            is_active=True,
        )
        CustodianKey.objects.bulk_create(
            CustodianKey(
                escrow_key=escrow_key,
                index=index,
                user=custodian,
                verification_key=public_key.verification_keys[index - 1].hex(),
            )
            for index, custodian in enumerate(custodians, start=1)
        )
        event_record(
            event_type="escrow_key.ceremony",
            actor=actor,
            object_ref=f"escrow_key:{public_key.epoch}",
            details={
                "epoch": public_key.epoch,
                "threshold": public_key.threshold,
                "custodians": [f"staff:{c.pk}" for c in custodians],
                "public_key": public_key.public_point.hex(),
                "fingerprint": public_key.fingerprint().hex(),
            },
        )
        transaction.on_commit(escrow_key_cache_clear)
    return escrow_key


def escrow_key_ceremony(
    *,
    threshold: int,
    custodians: Sequence[User],
    passphrases: Sequence[str],
    actor: Actor,
    kdf_params: Argon2Params = ARGON2_DEFAULT,
) -> CeremonyOutcome:
    """Both halves in one process, for an installation that runs the ceremony online."""
    for custodian in custodians:
        if not custodian.groups.filter(name=str(Role.CUSTODIAN)).exists():
            raise CeremonyRejected("every share holder must have the custodian role")
    shares = ceremony_shares_create(
        threshold=threshold,
        custodian_labels=[c.username for c in custodians],
        passphrases=passphrases,
        epoch=escrow_key_next_epoch(),
        kdf_params=kdf_params,
    )
    escrow_key = escrow_key_register(
        public_key=shares.public_key, custodians=custodians, actor=actor
    )
    return CeremonyOutcome(escrow_key=escrow_key, share_files=shares.share_files)
