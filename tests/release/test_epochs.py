"""Escrow epochs: a new key ceremony starts a new epoch for new enrolments, and records of
every older epoch stay releasable by that epoch's own custodians.

frank, grace, heidi, ivan and judy hold epoch 1 (3 of 5); a later ceremony gives epoch 2
to kim, leo and mia (2 of 3), with grace holding a share of both. A request naming one
record of each epoch needs three epoch-1 partials and two epoch-2 partials, each on its
own epoch's points; nothing is re-wrapped and no share answers for another epoch.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User

from accounts.roles import Role
from escrow.crypto.threshold import CustodianShare, ceremony_run
from escrow.log.events import Actor
from escrow.log.models import AuditEvent
from escrow.vault.models import Enrolment
from escrow.vault.services.ceremony import escrow_key_next_epoch, escrow_key_register
from legal_requests.models import CustodianResponse, DisclosureRequest
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
    open_package,
    partial_from,
    partials_url,
)
from tests.release.test_turnover import partial_with

pytestmark = pytest.mark.django_db(transaction=True, available_apps=RELEASE_TEST_APPS)
NEW_BOARD = ("kim", "grace", "mia")  # epoch 2's shares 1, 2, 3


class Rotation:
    """Epoch 2, registered as a ceremony registers it, and its shares."""

    def __init__(self, world: World) -> None:
        epoch = escrow_key_next_epoch()
        self.public_key, self.shares = ceremony_run(threshold=2, custodians=3, epoch=epoch)
        self.board: dict[str, User] = {}
        for name in NEW_BOARD:
            self.board[name] = world.custodians.get(name) or factories.staff(
                name, Role.CUSTODIAN, password=PASSWORD
            )
        world.custodians.update(self.board)
        self.row = escrow_key_register(
            public_key=self.public_key, custodians=[self.board[n] for n in NEW_BOARD],
            actor=Actor.system("test"),
        )

    def share(self, name: str) -> CustodianShare:
        return self.shares[NEW_BOARD.index(name)]


def challenge_for(world: World, request: DisclosureRequest, name: str,
                  epoch: int | None = None) -> dict[str, Any]:
    url = challenge_url(request) + (f"?epoch={epoch}" if epoch is not None else "")
    response = world.staff_client(world.custodians[name]).get(url)
    assert response.status_code == 200, response.content
    return response.json()


def post(world: World, request: DisclosureRequest, name: str, body: dict[str, Any]) -> Any:
    return world.staff_client(world.custodians[name]).post(partials_url(request), body,
                                                            format="json")


@pytest.fixture
def spanning(world: World) -> tuple[World, Rotation, Enrolment, Enrolment, DisclosureRequest]:
    old = enrol(world, 1)  # sealed under epoch 1
    rotation = Rotation(world)
    new = enrol(world, 2)  # sealed under epoch 2, the active key now
    request = approved_request(world, [old, new], fields=["given_name", "email"])
    return world, rotation, old, new, request


def test_old_epochs_release_after_rotation(world: World) -> None:
    old = enrol(world, 1)
    rotation = Rotation(world)
    assert old.key_epoch == world.keypair.row.epoch != rotation.row.epoch
    assert enrol(world, 2).key_epoch == rotation.row.epoch  # new records: the new epoch
    request = approved_request(world, [old], fields=["given_name", "family_name"])
    # The new board holds no share of the old epoch; the old one answers for it.
    response = world.staff_client(world.custodians["kim"]).get(challenge_url(request))
    assert_problem(response, 403, "not_a_share_holder")
    for name in ("frank", "heidi", "judy"):
        challenge = challenge_for(world, request, name)
        assert challenge["escrow_key"]["epoch"] == world.keypair.row.epoch
        assert post(world, request, name, {"partial": partial_from(world, name, challenge)}
                    ).status_code == 201
    request.refresh_from_db()
    assert request.state == "released"
    (subject,) = open_package(world)["content"]["subjects"]
    assert subject["fields"] == {"given_name": "Zebulonqx1", "family_name": "Quartermainezz"}


def test_a_release_spanning_epochs_needs_each_epochs_own_threshold(spanning: Any) -> None:
    world, rotation, old, new, request = spanning
    epoch1, epoch2 = world.keypair.row.epoch, rotation.row.epoch
    # Each challenge shows only its own epoch's points, and every epoch's progress.
    frank = challenge_for(world, request, "frank")
    assert {item["record_id"] for item in frank["items"]} == {str(old.id)}
    assert {item["epoch"] for item in frank["items"]} == {epoch1}
    assert [(e["epoch"], e["threshold"], e["your_index"]) for e in frank["epochs"]] == [
        (epoch1, 3, 1), (epoch2, 2, None)
    ]
    kim = challenge_for(world, request, "kim")
    assert {item["record_id"] for item in kim["items"]} == {str(new.id)}
    assert kim["escrow_key"] == {"epoch": epoch2, "threshold": 2,
                                 "fingerprint": rotation.public_key.fingerprint().hex()}

    for name in ("frank", "heidi", "judy"):  # epoch 1 complete: not enough on its own
        challenge = challenge_for(world, request, name)
        answer = post(world, request, name, {"partial": partial_from(world, name, challenge)})
        assert answer.status_code == 201, answer.content
    assert answer.json() == {"decision": "consent", "accepted": 3, "threshold": 5,
                             "release_started": False}
    request.refresh_from_db()
    assert request.state == "approved"
    status = world.staff_client(world.custodians["kim"]).get(
        f"/api/v1/releases/{request.pk}").json()
    assert (status["partials_in"], status["threshold"]) == (3, 5)
    assert [(e["epoch"], e["partials_in"], e["complete"]) for e in status["epochs"]] == [
        (epoch1, 3, True), (epoch2, 0, False)
    ]

    answer = post(world, request, "kim",
                  {"partial": partial_with(rotation.share("kim"), rotation.public_key, kim)})
    assert answer.json()["release_started"] is False
    mia = challenge_for(world, request, "mia")
    answer = post(world, request, "mia",
                  {"partial": partial_with(rotation.share("mia"), rotation.public_key, mia)})
    assert answer.json() == {"decision": "consent", "accepted": 5, "threshold": 5,
                             "release_started": True}
    request.refresh_from_db()
    assert request.state == "released"
    subjects = {s["pseudonym"]: s["fields"] for s in open_package(world)["content"]["subjects"]}
    assert subjects == {
        old.pseudonym: {"given_name": "Zebulonqx1", "email": "canary.1@mailbox.example"},
        new.pseudonym: {"given_name": "Zebulonqx2", "email": "canary.2@mailbox.example"},
    }
    # The release names each epoch and whose shares opened it.
    committed = AuditEvent.objects.get(event_type="disclosure.release_committed")
    details = json.loads(bytes(committed.entry))["details"]
    assert details["epochs"] == [{"epoch": epoch1, "custodians": [1, 3, 5]},
                                 {"epoch": epoch2, "custodians": [1, 3]}]


def test_a_custodian_of_two_epochs_answers_each_with_its_own_share(spanning: Any) -> None:
    world, rotation, _, _, request = spanning
    epoch1, epoch2 = world.keypair.row.epoch, rotation.row.epoch
    first = challenge_for(world, request, "grace")  # the first epoch not yet answered
    assert first["escrow_key"]["epoch"] == epoch1
    assert first["custodian"]["index"] == 2
    # Epoch 1's share on epoch 2's points: the proof fails against epoch 2's key.
    second = challenge_for(world, request, "grace", epoch=epoch2)
    assert second["custodian"]["index"] == 2
    wrong = partial_with(world.share("grace"), world.keypair.public_key, second)
    wrong["epoch"] = epoch2
    assert assert_problem(post(world, request, "grace", {"partial": wrong}), 422,
                          "partial_rejected")["reason"] == "proof"
    assert post(world, request, "grace",
                {"partial": partial_from(world, "grace", first)}).status_code == 201
    # Answered under epoch 1, so the default challenge now is epoch 2's.
    assert challenge_for(world, request, "grace")["escrow_key"]["epoch"] == epoch2
    right = partial_with(rotation.share("grace"), rotation.public_key, second)
    assert post(world, request, "grace", {"partial": right}).status_code == 201
    # Each share answers once.
    again = post(world, request, "grace", {"partial": right})
    assert_problem(again, 409, "already_answered")
    assert set(CustodianResponse.objects.filter(request=request).values_list(
        "key_epoch", "custodian_index")) == {(epoch1, 2), (epoch2, 2)}


def test_a_partial_or_challenge_for_an_epoch_the_request_does_not_need_is_refused(
    world: World,
) -> None:
    old = enrol(world, 1)
    rotation = Rotation(world)
    request = approved_request(world, [old])  # epoch 1 only
    response = world.staff_client(world.custodians["kim"]).get(
        challenge_url(request) + f"?epoch={rotation.row.epoch}")
    # kim holds no share of epoch 1, the only one the request needs.
    assert_problem(response, 403, "not_a_share_holder")
    response = world.staff_client(world.custodians["grace"]).get(
        challenge_url(request) + f"?epoch={rotation.row.epoch}")
    assert_problem(response, 404, "epoch_not_needed")
    for bad in ("0", "x", "1&epoch=2"):
        response = world.staff_client(world.custodians["grace"]).get(
            challenge_url(request) + f"?epoch={bad}")
        assert_problem(response, 400, "validation_error")
    # grace's epoch-2 share on the request's points, labelled epoch 2: not needed.
    challenge = challenge_for(world, request, "grace")
    partial = partial_with(rotation.share("grace"), rotation.public_key, challenge)
    body = assert_problem(post(world, request, "grace", {"partial": partial}), 422,
                          "partial_rejected")
    assert body["reason"] == "epoch"
    assert not CustodianResponse.objects.filter(request=request).exists()


def test_a_refusal_covers_every_share_of_the_custodian_the_request_needs(spanning: Any
                                                                          ) -> None:
    world, rotation, _, _, request = spanning
    response = post(world, request, "grace", {"refusal_reason": "Not proportionate."})
    assert response.status_code == 201, response.content
    assert set(CustodianResponse.objects.filter(request=request).values_list(
        "key_epoch", "custodian_index", "partial")) == {
        (world.keypair.row.epoch, 2, None), (rotation.row.epoch, 2, None)}
    event = AuditEvent.objects.get(event_type="disclosure.custodian_refused")
    assert json.loads(bytes(event.entry))["details"]["shares"] == [
        {"epoch": world.keypair.row.epoch, "custodian_index": 2},
        {"epoch": rotation.row.epoch, "custodian_index": 2},
    ]
    again = post(world, request, "grace", {"refusal_reason": "Still no."})
    assert_problem(again, 409, "already_answered")


def test_the_approval_notice_goes_to_the_custodians_of_the_epochs_it_needs(world: World
                                                                          ) -> None:
    from legal_requests.services.notifications import CUSTODIANS_PENDING, notice_compose

    old = enrol(world, 1)
    Rotation(world)
    for user in User.objects.all():
        User.objects.filter(pk=user.pk).update(email=f"{user.username}@escrow.example")
    request = approved_request(world, [old])
    recipients = set(notice_compose(CUSTODIANS_PENDING, request).recipients)
    assert recipients == {f"{n}@escrow.example" for n in ("frank", "grace", "heidi", "ivan",
                                                          "judy")}
