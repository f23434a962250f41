"""What a release covers: one item per sealed field of each approved pseudonym."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from escrow.crypto.envelope import FieldContext, SealedField
from escrow.vault.models import Enrolment
from legal_requests.models import DisclosureRequest
from legal_requests.selectors import disclosure_release_fields, disclosure_target_list


class ReleaseEpochMismatch(Exception):
    """A target was sealed under another escrow key epoch than the active one."""


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


def release_items(disclosure: DisclosureRequest, *, epoch: int) -> list[ReleaseItem]:
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
        if enrolment.key_epoch != epoch:
            raise ReleaseEpochMismatch(
                "a target was sealed under another escrow key epoch than the active one"
            )
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
