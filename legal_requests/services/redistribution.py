"""Custodian turnover: record an escrow key's redistributed shares (escrow/crypto/redistribution).

The dealing custodians' public dealings arrive here; the service recomputes the new
commitments from them (it never sees a sub-share), checks that the public point is
unchanged, replaces the epoch's share holders, and logs the handover. It lives beside
the release services because it must refuse while a release of the epoch is collecting
partials: those were computed with old shares and could never combine with new ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import User
from django.db import transaction

from accounts.roles import Role
from escrow.crypto.errors import CryptoError
from escrow.crypto.redistribution import Dealing, redistribution_public_key
from escrow.crypto.threshold import EscrowPublicKey
from escrow.log.events import Actor, event_record
from escrow.vault.models import CustodianKey, EscrowKey
from escrow.vault.selectors import escrow_key_cache_clear
from legal_requests.models import CustodianResponse, DisclosureRequest


class RedistributionRejected(Exception):
    """The dealings, the new custodians or the moment do not allow this handover."""


def _check_custodians(custodians: Sequence[User], new_key: EscrowPublicKey) -> None:
    if len(custodians) != new_key.custodians:
        raise RedistributionRejected("name exactly one new custodian per new share, in order")
    if len({c.pk for c in custodians}) != len(custodians):
        raise RedistributionRejected("new custodians must be distinct people")
    if new_key.threshold < 2:
        raise RedistributionRejected("a 1-of-n key would let one person unmask anyone")
    for custodian in custodians:
        if not custodian.groups.filter(name=str(Role.CUSTODIAN)).exists():
            raise RedistributionRejected("every new share holder must have the custodian role")


def escrow_key_redistribute(
    *, epoch: int, dealings: Sequence[bytes], custodians: Sequence[User], actor: Actor
) -> EscrowKey:
    """Replace epoch `epoch`'s share holders with `custodians` (new share i is theirs[i-1])."""
    try:
        parsed = [Dealing.from_bytes(raw) for raw in dealings]
    except CryptoError as exc:
        raise RedistributionRejected(f"a dealing is malformed: {exc}") from exc
    with transaction.atomic():
        row = EscrowKey.objects.select_for_update().filter(epoch=epoch).first()
        if row is None:
            raise RedistributionRejected("no escrow key has this epoch")
        old_key = EscrowPublicKey.from_dict(row.public_key)
        try:
            new_key = redistribution_public_key(old_public_key=old_key, dealings=parsed)
        except CryptoError as exc:
            raise RedistributionRejected(str(exc)) from exc
        _check_custodians(custodians, new_key)
        if CustodianResponse.objects.filter(
            key_epoch=epoch, request__state__in=DisclosureRequest.OPEN_STATES
        ).exists():
            raise RedistributionRejected("a release of this epoch is collecting answers")
        EscrowKey.objects.filter(epoch=epoch).update(
            threshold=new_key.threshold, custodian_count=new_key.custodians,
            public_key=new_key.to_dict(),
        )
        CustodianKey.objects.filter(escrow_key=row).delete()
        CustodianKey.objects.bulk_create(
            CustodianKey(escrow_key=row, index=index, user=custodian,
                         verification_key=new_key.verification_keys[index - 1].hex())
            for index, custodian in enumerate(custodians, start=1)
        )
        event_record(
            event_type="escrow_key.redistributed",
            actor=actor,
            object_ref=f"escrow_key:{epoch}",
            details={
                "epoch": epoch,
                "dealers": list(parsed[0].dealers),
                "dealings_sha256": [d.digest().hex() for d in parsed],
                "threshold": new_key.threshold,
                "custodians": [f"staff:{c.pk}" for c in custodians],
                "public_key": new_key.public_point.hex(),
                "old_fingerprint": old_key.fingerprint().hex(),
                "fingerprint": new_key.fingerprint().hex(),
            },
        )
        transaction.on_commit(escrow_key_cache_clear)
    row.refresh_from_db()
    return row
