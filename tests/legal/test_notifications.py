"""Approvers and custodians hear about pending work; messages carry no personal data."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

from escrow.vault.models import CustodianKey
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/api/v1/disclosure-requests"


def test_pending_work_is_announced(cast: Any, met: Any, targets: list[Any], eager_tasks: None,
                                   escrow_keypair: Any,
                                   django_capture_on_commit_callbacks: Any) -> None:
    for name in ("alice", "bob", "carol", "erin", "frank", "grace"):
        cast.user(name)
    # Grace holds a share of the active key; frank has the role but no share.
    CustodianKey.objects.create(escrow_key=escrow_keypair.row, index=1, user=cast.user("grace"),
                                verification_key="00" * 32)
    with django_capture_on_commit_callbacks(execute=True):
        request = factories.disclosure_request(agency=met.agency, targets=[targets[0]])
    assert [m.to for m in mail.outbox] == [["alice@escrow.example"]]
    alice, bob, carol = cast.client("alice"), cast.client("bob"), cast.client("carol")

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert alice.post(f"{URL}/{request.pk}/review").status_code == 200
    assert sorted(m.to[0] for m in mail.outbox) == [
        "bob@escrow.example", "carol@escrow.example", "erin@escrow.example"]

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        bob.post(f"{URL}/{request.pk}/approve", {"reason": "x"}, format="json")
        carol.post(f"{URL}/{request.pk}/approve", {"reason": "x"}, format="json")
    assert [m.to for m in mail.outbox] == [["grace@escrow.example"]]
    message = mail.outbox[0]
    assert request.reference in message.subject
    text = message.subject + message.body
    for secret in (targets[0].pseudonym, "OP-KESTREL", "Sam Example", factories.CANARY["email"]):
        assert secret not in text


def test_the_agency_hears_of_a_question(cast: Any, met: Any, targets: list[Any],
                                        eager_tasks: None,
                                        django_capture_on_commit_callbacks: Any) -> None:
    request = factories.disclosure_request(agency=met.agency, targets=[targets[0]])
    cast.client("alice").post(f"{URL}/{request.pk}/review")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        cast.client("alice").post(f"{URL}/{request.pk}/request-information",
                                  {"question": "Which account?"}, format="json")
    assert sorted(m.to[0] for m in mail.outbox) == [
        "duty-desk@police.example", "sam.example@police.example"]
    assert "Which account?" not in mail.outbox[0].body


@pytest.mark.redis
def test_notices_travel_through_the_real_broker(cast: Any, met: Any, targets: list[Any],
                                                settings: Any,
                                                django_capture_on_commit_callbacks: Any) -> None:
    """Not eager: the notice is queued in Redis after commit, and a worker sends it."""
    import base64
    import json

    import redis

    from config.celery import app
    from legal_requests.tasks import notification_send_task as notification_send

    if not settings.REDIS_URL or app.conf.task_always_eager:
        pytest.skip("needs Redis as the Celery broker")
    broker = redis.Redis.from_url(settings.REDIS_URL)
    queue = app.conf.task_default_queue or "celery"
    cast.user("alice")
    with django_capture_on_commit_callbacks(execute=True):
        request = factories.disclosure_request(agency=met.agency, targets=[targets[0]])
    assert mail.outbox == []  # nothing is sent inside the request's transaction
    ours = []
    for raw in broker.lrange(queue, 0, -1):
        message = json.loads(raw)
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        if message["headers"]["task"] == notification_send.name and args[1] == str(request.pk):
            ours.append((raw, args))
    assert [args for _, args in ours] == [["request_received", str(request.pk)]]
    for raw, _ in ours:
        broker.lrem(queue, 1, raw)
    # What a worker does with the message.
    assert notification_send(*ours[0][1]) == 1
    assert [m.to for m in mail.outbox] == [["alice@escrow.example"]]
