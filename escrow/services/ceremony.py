"""The key ceremony: create the escrow key, hand out sealed shares, forget the secret."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max

from accounts.roles import Role
from escrow.audit import Actor, event_record
from escrow.crypto.sharefile import share_file_seal
from escrow.crypto.threshold import ceremony_run
from escrow.models import CustodianKey, EscrowKey
from escrow.selectors import escrow_key_cache_clear


class CeremonyRejected(Exception):
    """The ceremony's parameters are unsound (threshold, custodians, passphrases)."""


@dataclass(frozen=True, repr=False)
class CeremonyOutcome:
    escrow_key: EscrowKey
    share_files: dict[str, bytes]  # username -> sealed share file, for that custodian only


def escrow_key_ceremony(
    *,
    threshold: int,
    custodians: Sequence[User],
    passphrases: Sequence[str],
    actor: Actor,
    kdf_params: object | None = None,
) -> CeremonyOutcome:
    """Run a k-of-n ceremony and make the new key the active one.

    Share files are returned to the caller to hand to each custodian, never stored by
    the service; only the public key, commitments and verification keys are kept.
    """
    if len(custodians) != len(passphrases):
        raise CeremonyRejected("one passphrase per custodian is needed")
    if len({c.pk for c in custodians}) != len(custodians):
        raise CeremonyRejected("custodians must be distinct people")
    if not 2 <= threshold <= len(custodians):
        raise CeremonyRejected("the threshold must be at least 2 and at most the custodian count")
    if any(len(p) < 12 for p in passphrases):
        raise CeremonyRejected("each share passphrase must be at least 12 characters")
    for custodian in custodians:
        if not custodian.groups.filter(name=str(Role.CUSTODIAN)).exists():
            raise CeremonyRejected("every share holder must have the custodian role")
    with transaction.atomic():
        epoch = (EscrowKey.objects.select_for_update().aggregate(m=Max("epoch"))["m"] or 0) + 1
        public_key, shares = ceremony_run(
            threshold=threshold, custodians=len(custodians), epoch=epoch
        )
        EscrowKey.objects.filter(is_active=True).update(is_active=False)
        escrow_key = EscrowKey.objects.create(
            epoch=epoch,
            threshold=threshold,
            custodian_count=len(custodians),
            public_key=public_key.to_dict(),
            is_active=True,
        )
        share_files: dict[str, bytes] = {}
        seal_kwargs = {} if kdf_params is None else {"kdf_params": kdf_params}
        for custodian, share, passphrase in zip(custodians, shares, passphrases, strict=True):
            CustodianKey.objects.create(
                escrow_key=escrow_key,
                index=share.index,
                user=custodian,
                verification_key=public_key.verification_keys[share.index - 1].hex(),
            )
            share_files[custodian.username] = share_file_seal(
                share=share,
                public_key=public_key,
                custodian_label=custodian.username,
                passphrase=passphrase,
                **seal_kwargs,  # type: ignore[arg-type]
            )
        event_record(
            event_type="escrow_key.ceremony",
            actor=actor,
            object_ref=f"escrow_key:{epoch}",
            details={
                "epoch": epoch,
                "threshold": threshold,
                "custodians": [f"staff:{c.pk}" for c in custodians],
                "public_key": public_key.public_point.hex(),
            },
        )
        transaction.on_commit(escrow_key_cache_clear)
    return CeremonyOutcome(escrow_key=escrow_key, share_files=share_files)
