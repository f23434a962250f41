"""The escrow key is the one its logged ceremony names, or nothing is sealed to it.

Every change of an epoch's key (ceremony, redistribution) goes through a service that
logs its fingerprint and share holders in the same transaction. A key row written around
the services, as an insider with database access could, would seal every new identity
to a key of the insider's choosing; enrolment refuses it, readiness reports it and
`escrow_key_verify` names the epoch.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from accounts.roles import Role
from escrow.crypto.sharefile import Argon2Params
from escrow.crypto.threshold import ceremony_run
from escrow.log.events import Actor
from escrow.log.models import AuditEvent
from escrow.vault.models import CustodianKey, EscrowKey
from escrow.vault.selectors import escrow_key_cache_clear
from escrow.vault.services.ceremony import escrow_key_ceremony
from tests import factories

pytestmark = pytest.mark.django_db

ENROL = "/api/v1/enrolments"
CHEAP = Argon2Params(memory_kib=1024, iterations=1, lanes=1)


@pytest.fixture
def api_client() -> Any:
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def ceremony() -> EscrowKey:
    custodians = [factories.staff(name, Role.CUSTODIAN) for name in ("frank", "grace", "heidi")]
    outcome = escrow_key_ceremony(
        threshold=2, custodians=custodians, passphrases=["a long passphrase, really!"] * 3,
        actor=Actor.system("test"), kdf_params=CHEAP,
    )
    escrow_key_cache_clear()
    return outcome.escrow_key


def enrol(client: Any, key: str) -> Any:
    return client.post(ENROL, factories.identity_payload(), format="json",
                       HTTP_AUTHORIZATION=f"Bearer {key}",
                       HTTP_IDEMPOTENCY_KEY=factories.idempotency_key())


def verify() -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("escrow_key_verify", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_key_registered_by_its_ceremony_is_attested(ceremony: EscrowKey, api_client: Any
                                                      ) -> None:
    _, key = factories.platform_with_key()
    assert enrol(api_client, key).status_code == 201
    out, _ = verify()
    assert f"epoch {ceremony.epoch} (active, 2 of 3" in out
    assert "1 escrow key epoch(s) match the log" in out
    assert api_client.get("/healthz/ready").json()["checks"]["escrow_key"] == "ok"


def test_a_substituted_public_key_stops_enrolment_and_readiness(
    ceremony: EscrowKey, api_client: Any
) -> None:
    _, key = factories.platform_with_key()
    impostor, _ = ceremony_run(threshold=2, custodians=3, epoch=ceremony.epoch)
    EscrowKey.objects.filter(pk=ceremony.pk).update(public_key=impostor.to_dict())
    escrow_key_cache_clear()
    response = enrol(api_client, key)
    assert response.status_code == 503
    assert response.json()["code"] == "escrow_key_unattested"
    ready = api_client.get("/healthz/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["escrow_key"] == "unattested"
    with pytest.raises(CommandError, match="1 of 1 escrow key epoch"):
        verify()


def test_a_key_no_ceremony_logged_is_refused(db: Any, api_client: Any) -> None:
    _, key = factories.platform_with_key()
    public_key, _ = ceremony_run(threshold=2, custodians=3, epoch=1)
    EscrowKey.objects.create(epoch=1, threshold=2, custodian_count=3,
                             public_key=public_key.to_dict(), is_active=True)
    escrow_key_cache_clear()
    assert enrol(api_client, key).json()["code"] == "escrow_key_unattested"


def test_swapped_share_holders_are_named(ceremony: EscrowKey) -> None:
    # Enrolment does not depend on who holds the shares; releases do, so the check does.
    mallory = factories.staff("mallory", Role.CUSTODIAN)
    CustodianKey.objects.filter(escrow_key=ceremony, index=2).update(user=mallory)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("escrow_key_verify", stdout=io.StringIO(), stderr=err)
    assert "the share holders are not the ones the log names" in err.getvalue()


def test_a_lowered_threshold_is_named(ceremony: EscrowKey) -> None:
    EscrowKey.objects.filter(pk=ceremony.pk).update(threshold=1)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("escrow_key_verify", stdout=io.StringIO(), stderr=err)
    assert f"epoch {ceremony.epoch}: the stored key is not the one the log names" in err.getvalue()


def test_the_latest_logged_event_of_the_epoch_is_the_truth(ceremony: EscrowKey) -> None:
    # A forged later event is no way around it either: it must be a logged event, in the
    # public log, for auditors to see; here, one naming another fingerprint wins.
    from escrow.log.events import event_record

    event_record(event_type="escrow_key.redistributed", actor=Actor.system("test"),
                 object_ref=f"escrow_key:{ceremony.epoch}",
                 details={"epoch": ceremony.epoch, "fingerprint": "00" * 32, "custodians": []})
    assert AuditEvent.objects.filter(object_ref=f"escrow_key:{ceremony.epoch}").count() == 2
    with pytest.raises(CommandError):
        verify()
