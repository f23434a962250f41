"""What a release covers: one item per sealed field of each approved pseudonym.

Records keep the escrow key epoch they were sealed under: a new ceremony starts a new
epoch for new enrolments and leaves older records where they are (never re-wrapped:
that would mean opening every old record in one place). A release whose targets span
epochs is answered by each epoch's own custodians, on that epoch's items only.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from escrow.crypto.envelope import FieldContext, SealedField
from escrow.crypto.threshold import EscrowPublicKey
from escrow.vault.models import Enrolment, EscrowKey
from legal_requests.models import DisclosureRequest
from legal_requests.selectors import disclosure_release_fields, disclosure_target_list


class ReleaseEpochMissing(Exception):
    """A target was sealed under an escrow key epoch that this service holds no key of."""


@dataclass(frozen=True)
class ReleaseItem:
    """One sealed field of one approved pseudonym: its point R and where it belongs."""

    target_pseudonym: str
    enrolment_id: str
    platform_id: str
    field_name: str
    epoch: int
    sealed: SealedField

    @property
    def point(self) -> bytes:
        return self.sealed.ephemeral_point

    @property
    def field_context(self) -> FieldContext:
        return FieldContext(
            record_id=self.enrolment_id,
            platform_id=self.platform_id,
            field_name=self.field_name,
            epoch=self.epoch,
        )


@dataclass(frozen=True)
class EpochPart:
    """One epoch's part of a release: its key (threshold, share holders) and its items."""

    key_row: EscrowKey
    public_key: EscrowPublicKey
    items: list[ReleaseItem]

    @property
    def epoch(self) -> int:
        return self.key_row.epoch

    @property
    def threshold(self) -> int:
        return self.key_row.threshold


def release_parts(items: list[ReleaseItem]) -> dict[int, EpochPart]:
    """The items grouped by epoch (in epoch order, each group in the items' order), with
    each epoch's key read afresh: a redistribution may have changed its holders."""
    by_epoch: dict[int, list[ReleaseItem]] = {}
    for item in items:
        by_epoch.setdefault(item.epoch, []).append(item)
    rows = {row.epoch: row for row in EscrowKey.objects.filter(epoch__in=list(by_epoch))}
    parts = {}
    for epoch in sorted(by_epoch):
        row = rows.get(epoch)
        if row is None:
            raise ReleaseEpochMissing(
                f"a target was sealed under escrow key epoch {epoch}, which is not registered"
            )
        parts[epoch] = EpochPart(key_row=row, public_key=EscrowPublicKey.from_dict(row.public_key),
                                 items=by_epoch[epoch])
    return parts


def release_items(disclosure: DisclosureRequest) -> list[ReleaseItem]:
    """Every (pseudonym, approved field) the request can open, in a fixed order.

    The order is what makes a custodian's i-th partial answer the server's i-th point;
    erased enrolments and fields a person never supplied simply have no item.
    """
    fields = disclosure_release_fields(disclosure)
    items: list[ReleaseItem] = []
    for target in disclosure_target_list(disclosure):
        enrolment: Enrolment = target.enrolment
        if enrolment.sealed_fields is None:
            continue
        for name in fields:
            encoded = enrolment.sealed_fields.get(name)
            if encoded is None:
                continue
            items.append(
                ReleaseItem(
                    target_pseudonym=target.pseudonym,
                    enrolment_id=str(enrolment.id),
                    platform_id=str(enrolment.platform_id),
                    field_name=name,
                    epoch=enrolment.key_epoch,
                    sealed=SealedField.from_bytes(base64.b64decode(encoded)),
                )
            )
    return items
