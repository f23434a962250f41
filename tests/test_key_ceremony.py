"""The key ceremony, online and offline, and what it refuses."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from accounts.roles import Role
from escrow.crypto.sharefile import Argon2Params, share_file_open
from escrow.crypto.threshold import share_verify
from escrow.log.models import AuditEvent
from escrow.vault.models import CustodianKey, EscrowKey
from escrow.vault.selectors import escrow_key_active
from escrow.vault.services.ceremony import CeremonyRejected, escrow_key_ceremony
from tests import factories

pytestmark = pytest.mark.django_db
CHEAP = Argon2Params(memory_kib=1024, iterations=1, lanes=1)
CUSTODIANS = ["frank", "grace", "heidi"]


@pytest.fixture
def custodians() -> list[Any]:
    return [factories.staff(name, Role.CUSTODIAN) for name in CUSTODIANS]


def passphrases_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrases.json"
    path.write_text(json.dumps({name: f"{name} long passphrase" for name in CUSTODIANS}))
    return path


def test_online_ceremony_activates_a_key_whose_shares_verify(custodians: list[Any]) -> None:
    outcome = escrow_key_ceremony(
        threshold=2, custodians=custodians, passphrases=[f"{c} long passphrase"
                                                         for c in CUSTODIANS],
        actor=factories_actor(), kdf_params=CHEAP,
    )
    assert escrow_key_active().epoch == outcome.escrow_key.epoch
    for index, name in enumerate(CUSTODIANS, start=1):
        share, public_key = share_file_open(data=outcome.share_files[name],
                                            passphrase=f"{name} long passphrase")
        assert share.index == index
        share_verify(share=share, public_key=public_key)
        holder = CustodianKey.objects.get(escrow_key=outcome.escrow_key, index=index)
        assert holder.user.username == name
    event = AuditEvent.objects.get(event_type="escrow_key.ceremony")
    assert json.loads(bytes(event.entry))["details"]["threshold"] == 2


def factories_actor() -> Any:
    from escrow.log.events import Actor

    return Actor.system("test")


@pytest.mark.parametrize(
    ("threshold", "roles_ok", "passphrase"),
    [(1, True, "long enough passphrase"), (4, True, "long enough passphrase"),
     (2, False, "long enough passphrase"), (2, True, "short"), (2, True, "password12345")],
)
def test_unsound_ceremonies_are_refused(threshold: int, roles_ok: bool, passphrase: str
                                        ) -> None:
    users = [factories.staff(n, Role.CUSTODIAN if roles_ok else Role.APPROVER)
             for n in CUSTODIANS]
    with pytest.raises(CeremonyRejected):
        escrow_key_ceremony(threshold=threshold, custodians=users,
                            passphrases=[passphrase] * 3, actor=factories_actor(),
                            kdf_params=CHEAP)
    assert not EscrowKey.objects.exists()


def test_offline_ceremony_then_register(custodians: list[Any], tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("escrow_key_register", "--next-epoch", stdout=out)
    epoch = out.getvalue().strip()
    call_command("escrow_key_ceremony", "--offline", "--epoch", epoch, "--threshold", "2",
                 "--custodians", ",".join(CUSTODIANS), "--out-dir", str(tmp_path / "c"),
                 "--passphrases-file", str(passphrases_file(tmp_path)), stdout=io.StringIO())
    assert not EscrowKey.objects.exists()  # nothing reached the database
    for name in CUSTODIANS:
        path = tmp_path / "c" / f"{name}.share.json"
        assert path.stat().st_mode & 0o777 == 0o600
    call_command("escrow_key_register", "--public-key", str(tmp_path / "c/public-key.json"),
                 stdout=io.StringIO())
    assert escrow_key_active().epoch == int(epoch)
    # Registering the same ceremony again is refused: its epoch is no longer next.
    with pytest.raises(CommandError):
        call_command("escrow_key_register", "--public-key",
                     str(tmp_path / "c/public-key.json"), stdout=io.StringIO())


def test_register_refuses_a_tampered_public_key(custodians: list[Any], tmp_path: Path) -> None:
    from escrow.vault.services.ceremony import ceremony_shares_create

    shares = ceremony_shares_create(threshold=2, custodian_labels=CUSTODIANS,
                                    passphrases=["a long passphrase!"] * 3, epoch=1,
                                    kdf_params=CHEAP)
    document = {"custodians": CUSTODIANS, "public_key": shares.public_key.to_dict()}
    keys = document["public_key"]["verification_keys"]
    keys[0], keys[1] = keys[1], keys[0]
    path = tmp_path / "public-key.json"
    path.write_text(json.dumps(document))
    with pytest.raises(CommandError):
        call_command("escrow_key_register", "--public-key", str(path), stdout=io.StringIO())
    assert not EscrowKey.objects.exists()
