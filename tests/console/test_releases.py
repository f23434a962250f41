"""Custodians' page: the releases waiting for their share, what each covers, its
progress, and the exact escrow-custodian command; never any identity data."""

from __future__ import annotations

import re
from typing import Any

import pytest

from escrow.log.keys import log_identity
from escrow.vault.models import CustodianKey
from legal_requests.services.review import disclosure_approve
from tests.console.conftest import Story, console_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved(story: Story, escrow_keypair: Any) -> Story:
    CustodianKey.objects.create(
        escrow_key=escrow_keypair.row, index=2, user=story.frank,
        verification_key=escrow_keypair.public_key.verification_keys[1].hex())
    for approver in (story.bob, story.carol):
        disclosure_approve(disclosure=story.disclosure, approver=approver,
                           reason="In scope and in force.")
    story.disclosure.refresh_from_db()
    assert story.disclosure.state == "approved"
    return story


def test_a_custodian_sees_what_a_release_covers_and_the_command_to_run(
        approved: Story) -> None:
    disclosure = approved.disclosure
    page = console_client(approved.frank).get("/console/releases/").content.decode()
    assert disclosure.reference in page
    assert "Production order" in page
    assert re.search(r"<dt>Pseudonyms</dt><dd>1</dd>", page)
    assert "given_name, family_name" in page
    assert "You hold share <strong>2</strong>" in page
    assert re.search(r'<progress id="progress-[^"]+" max="3" value="0">', page)
    assert "Partials: 0 of 3 needed" in page
    # No witness is configured here: the command says the tool trusts the log key alone.
    command = (f"escrow-custodian --server http://testserver --username frank release "
               f"{disclosure.pk} --share YOUR-SHARE-FILE --log-key "
               f"'{log_identity().verifier_key}' --no-witness")
    assert command in page
    assert "names no witness" in page
    # The pseudonym and the officer are the agency's words, not identity data, but the
    # page needs neither; the identity behind the pseudonym never leaves the vault.
    target = disclosure.targets.get()
    assert target.pseudonym not in page
    assert disclosure.officer_name not in page


def test_the_command_names_the_witnesses_the_log_accepts(approved: Story,
                                                         settings: Any) -> None:
    from escrow.crypto.cosignature import cosigner_key_generate

    wendy, walter = (cosigner_key_generate(name=f"witness.example/{n}")[1]
                     for n in ("wendy", "walter"))
    settings.ESCROW_LOG_WITNESS_KEYS = [wendy, walter]
    page = console_client(approved.frank).get("/console/releases/").content.decode()
    assert (f"--log-key '{log_identity().verifier_key}' --witness '{wendy}' "
            f"--witness '{walter}'</code>") in page
    assert "--no-witness" not in page


def test_no_release_waiting_says_so(story: Story) -> None:
    page = console_client(story.frank).get("/console/releases/").content.decode()
    assert "No request is approved for release yet." in page
    assert "You hold no share of any escrow key" in page


def test_other_roles_are_refused(approved: Story) -> None:
    for user in (approved.alice, approved.bob, approved.dave):
        assert console_client(user).get("/console/releases/").status_code == 403


def spanning_epochs(story: Story, escrow_keypair: Any) -> tuple[int, int]:
    """frank holds share 2 of epoch 1 and share 1 of epoch 2, made by a later ceremony;
    the approved request names one record of each."""
    from legal_requests.models import RequestTarget
    from tests import factories

    CustodianKey.objects.create(
        escrow_key=escrow_keypair.row, index=2, user=story.frank,
        verification_key=escrow_keypair.public_key.verification_keys[1].hex())
    later = factories.escrow_key_active(threshold=2, custodians=3)
    CustodianKey.objects.create(
        escrow_key=later.row, index=1, user=story.frank,
        verification_key=later.public_key.verification_keys[0].hex())
    first = story.disclosure.targets.get().enrolment
    newer = factories.enrolment(first.platform)  # sealed under epoch 2
    RequestTarget.objects.create(request=story.disclosure, pseudonym=newer.pseudonym,
                                 enrolment=newer)
    for approver in (story.bob, story.carol):
        disclosure_approve(disclosure=story.disclosure, approver=approver, reason="In scope.")
    return escrow_keypair.row.epoch, later.row.epoch


def test_a_release_spanning_epochs_shows_each_epochs_progress(story: Story,
                                                               escrow_keypair: Any) -> None:
    epoch1, epoch2 = spanning_epochs(story, escrow_keypair)
    page = console_client(story.frank).get("/console/releases/").content.decode()
    assert (f"You hold share <strong>1</strong> of escrow key epoch <strong>{epoch2}</strong> "
            "(2 of 3 needed; the active key, for new records)") in page
    assert (f"You hold share <strong>2</strong> of escrow key epoch <strong>{epoch1}</strong> "
            "(3 of 5 needed; for records sealed before a later ceremony)") in page
    assert f"epoch {epoch1}: 0 of 3; epoch {epoch2}: 0 of 2" in page
    assert "Partials: 0 of 5 needed" in page
    assert f"(epochs {epoch1}, {epoch2})" in page
    assert "once with each share file" in page
