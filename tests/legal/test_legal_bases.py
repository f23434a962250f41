"""Legal bases are configuration: the seeded ones are valid, and the admin cannot break them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.models import Jurisdiction
from escrow.vault.identity import IDENTITY_FIELDS
from legal_requests.models import LegalBasis
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_seeded_bases_are_valid_and_minimal() -> None:
    bases = {b.code: b for b in LegalBasis.objects.all()}
    assert {"GB-EAW:ipa-part3", "GB-EAW:production-order", "GB-EAW:court-order",
            "GB-EAW:emergency", "GB-SCT:production-order", "US:subpoena", "US:2703d-order",
            "US:search-warrant", "US:emergency"} <= set(bases)
    for basis in bases.values():
        basis.full_clean()
        assert set(basis.releasable_fields) <= set(IDENTITY_FIELDS)
        assert "verification_reference" not in basis.releasable_fields
    assert bases["US:subpoena"].releasable_fields == ["given_name", "family_name",
                                                      "postal_address"]
    assert all(b.approvals_required == 1 for b in bases.values() if b.is_emergency)
    # Seeded jurisdictions wait for the operator to enable them.
    assert {j.code for j in Jurisdiction.objects.filter(code__in=["GB-EAW", "GB-SCT", "US"])
            } == {"GB-EAW", "GB-SCT", "US"}


@pytest.mark.parametrize(("change", "field"), [
    ({"releasable_fields": ["given_name", "shoe_size"]}, "releasable_fields"),
    ({"code": "US:court-order"}, "code"),
    ({"approvals_required": 1}, "approvals_required"),
])
def test_invalid_bases_are_refused(change: dict[str, object], field: str) -> None:
    basis = LegalBasis(code="GB-EAW:test-order", jurisdiction=factories.jurisdiction_enabled(),
                       name="Test order", releasable_fields=["given_name"],
                       approvals_required=2)
    basis.full_clean()
    for name, value in change.items():
        setattr(basis, name, value)
    with pytest.raises(ValidationError) as raised:
        basis.full_clean()
    assert field in raised.value.message_dict
