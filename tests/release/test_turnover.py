"""Custodian turnover: frank, heidi and judy (shares 1, 3, 5 of the 3-of-5 key) hand the
escrow key to kim, leo and mia (2 of 3) without rebuilding it; releases then work with
the new board only, and old and new shares cannot be mixed.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from accounts.roles import Role
from escrow.crypto.redistribution import Dealing, SubShare, redistribution_accept
from escrow.crypto.redistribution import redistribution_deal as deal
from escrow.crypto.release import partial_decrypt, release_context
from escrow.crypto.threshold import CustodianShare, EscrowPublicKey
from escrow.log.events import Actor
from escrow.log.models import AuditEvent
from escrow.vault.models import CustodianKey, EscrowKey
from legal_requests.services.redistribution import RedistributionRejected, escrow_key_redistribute
from tests import factories
from tests.release.conftest import (
    PASSWORD,
    RELEASE_TEST_APPS,
    World,
    approved_request,
    enrol,
)
from tests.release.test_release_api import (
    assert_problem,
    challenge_url,
    fetch_challenge,
    open_package,
    partials_url,
)

pytestmark = pytest.mark.django_db(transaction=True, available_apps=RELEASE_TEST_APPS)
DEALERS = ("frank", "heidi", "judy")
NEW_BOARD = ("kim", "leo", "mia")


def dealt(world: World) -> tuple[list[Dealing], dict[int, list[SubShare]]]:
    dealings: list[Dealing] = []
    inbox: dict[int, list[SubShare]] = {j: [] for j in (1, 2, 3)}
    for name in DEALERS:
        dealing, sub_shares = deal(
            share=world.share(name), public_key=world.keypair.public_key, dealers=[1, 3, 5],
            new_threshold=2, new_custodians=3,
        )
        dealings.append(dealing)
        for sub_share in sub_shares:
            inbox[sub_share.recipient_index].append(sub_share)
    return dealings, inbox


def hand_over(world: World) -> tuple[list[User], dict[str, CustodianShare], EscrowPublicKey]:
    board = [factories.staff(name, Role.CUSTODIAN, password=PASSWORD) for name in NEW_BOARD]
    dealings, inbox = dealt(world)
    escrow_key_redistribute(
        epoch=world.keypair.row.epoch, dealings=[d.to_bytes() for d in dealings],
        custodians=board, actor=Actor.system("test"),
    )
    shares = {}
    for j, name in enumerate(NEW_BOARD, start=1):
        new_key, shares[name] = redistribution_accept(
            old_public_key=world.keypair.public_key, dealings=dealings, sub_shares=inbox[j],
            recipient_index=j,
        )
    return board, shares, new_key


def partial_with(share: CustodianShare, key: EscrowPublicKey, challenge: dict[str, Any]
                 ) -> dict[str, Any]:
    context = release_context(
        request_id=challenge["context"]["request_id"],
        approval_log_index=challenge["context"]["approval_log_index"],
    )
    points = [bytes.fromhex(item["point"]) for item in challenge["items"]]
    return partial_decrypt(share=share, public_key=key, points=points, context=context).to_dict()


def test_turnover_keeps_releases_working_and_old_and_new_shares_cannot_be_mixed(
    world: World,
) -> None:
    target = enrol(world, 1)  # sealed before the handover
    board, shares, new_key = hand_over(world)
    world.custodians.update(zip(NEW_BOARD, board, strict=True))
    row = EscrowKey.objects.get(epoch=world.keypair.row.epoch)
    assert EscrowPublicKey.from_dict(row.public_key) == new_key
    assert new_key.public_point == world.keypair.public_key.public_point
    assert (row.threshold, row.custodian_count) == (2, 3)
    assert sorted(CustodianKey.objects.values_list("user__username", flat=True)) == list(NEW_BOARD)
    event = AuditEvent.objects.get(event_type="escrow_key.redistributed")
    assert json.loads(bytes(event.entry))["details"]["fingerprint"] == new_key.fingerprint().hex()

    request = approved_request(world, [target], fields=["given_name", "family_name"])
    # A departing custodian no longer holds a share of the epoch.
    old_holder = world.staff_client(world.custodians["frank"]).get(challenge_url(request))
    assert_problem(old_holder, 403, "not_a_share_holder")
    # leo answers with an old share (grace's, index 2): refused, nothing is combined.
    challenge = fetch_challenge(world, request, "leo")
    mixed = partial_with(world.share("grace"), world.keypair.public_key, challenge)
    response = world.staff_client(world.custodians["leo"]).post(
        partials_url(request), {"partial": mixed}, format="json"
    )
    assert assert_problem(response, 422, "partial_rejected")["reason"] == "proof"
    # Two new shares release the record sealed under the unchanged public key.
    for name in ("kim", "mia"):
        partial = partial_with(shares[name], new_key, fetch_challenge(world, request, name))
        response = world.staff_client(world.custodians[name]).post(
            partials_url(request), {"partial": partial}, format="json"
        )
        assert response.status_code == 201, response.content
    request.refresh_from_db()
    assert request.state == "released"
    (subject,) = open_package(world)["content"]["subjects"]
    assert subject["fields"] == {"given_name": "Zebulonqx1", "family_name": "Quartermainezz"}


def test_turnover_is_refused_while_a_release_collects_answers(world: World) -> None:
    request = approved_request(world, [enrol(world)])
    partial = partial_with(world.share("frank"), world.keypair.public_key,
                           fetch_challenge(world, request, "frank"))
    response = world.staff_client(world.custodians["frank"]).post(
        partials_url(request), {"partial": partial}, format="json"
    )
    assert response.status_code == 201, response.content
    with pytest.raises(RedistributionRejected, match="collecting answers"):
        hand_over(world)
    assert not AuditEvent.objects.filter(event_type="escrow_key.redistributed").exists()
    assert CustodianKey.objects.count() == 5


def test_turnover_with_a_cheating_dealer_is_refused_naming_them(world: World) -> None:
    board = [factories.staff(name, Role.CUSTODIAN, password=PASSWORD) for name in NEW_BOARD]
    dealings, _ = dealt(world)
    # judy's dealing replaced by one dealing her unweighted share (as if she were alone).
    cheat = Dealing(
        epoch=dealings[2].epoch, old_key_fingerprint=dealings[2].old_key_fingerprint,
        dealer_index=5, dealers=(1, 3, 5), new_threshold=2, new_custodians=3,
        commitments=(world.keypair.public_key.verification_keys[4], dealings[2].commitments[1]),
    )
    with pytest.raises(RedistributionRejected, match="custodian 5 rejected: weighted share"):
        escrow_key_redistribute(
            epoch=world.keypair.row.epoch, dealings=[d.to_bytes() for d in [*dealings[:2], cheat]],
            custodians=board, actor=Actor.system("test"),
        )
    assert EscrowPublicKey.from_dict(
        EscrowKey.objects.get(epoch=world.keypair.row.epoch).public_key
    ) == world.keypair.public_key


def test_the_turnover_command_records_the_dealing_files(world: World, tmp_path: Path) -> None:
    for name in NEW_BOARD:
        factories.staff(name, Role.CUSTODIAN, password=PASSWORD)
    files = []
    for dealing in dealt(world)[0]:
        files += ["--dealing", str(tmp_path / f"dealing-{dealing.dealer_index}.bin")]
        (tmp_path / f"dealing-{dealing.dealer_index}.bin").write_bytes(dealing.to_bytes())
    epoch = str(world.keypair.row.epoch)
    with pytest.raises(CommandError, match="unknown users: nobody"):
        call_command("escrow_key_redistribute", "--epoch", epoch, *files,
                     "--custodian", "kim", "--custodian", "leo", "--custodian", "nobody")
    out = io.StringIO()
    call_command("escrow_key_redistribute", "--epoch", epoch, *files,
                 *(arg for name in NEW_BOARD for arg in ("--custodian", name)), stdout=out)
    assert "held 2 of 3" in out.getvalue()
    assert "must destroy their old share files" in out.getvalue()
    assert CustodianKey.objects.get(index=3).user.username == "mia"
