"""The justification, the officer's details and call-back contacts are sealed at rest."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import Agency
from escrow.crypto.sealing import BlobUnsealError
from legal_requests.models import DisclosureRequest
from tests import factories
from tests.test_no_plaintext import database_dump

SEALED = ("officer_name", "officer_rank", "officer_badge", "officer_email", "officer_phone",
          "justification", "case_reference", "issuing_authority")
BEFORE = ("legal_requests", "0006_mail_outbox_and_reissuable_download")
AFTER = ("legal_requests", "0009_seal_case_reference_and_issuing_authority")  # the latest

pytestmark = pytest.mark.django_db
URL = "/api/v1/disclosure-requests"
OFFICER = {"name": "DS Quillon Vantreese", "rank": "Detective Sergeant", "badge": "QV9137",
           "email": "quillon.vantreese@police.example", "phone": "+441632960777"}
JUSTIFICATION = "Canary justification: Zephyrine threatened the complainant twice."
CASE = {"case_reference": "OP-QUAVERLING-0913",
        "issuing_authority": "Thistlewick Magistrates' Court"}


def test_no_justification_or_officer_detail_in_a_database_dump(met: Any, targets: list[Any]
                                                                ) -> None:
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym], officer=OFFICER,
                                           justification=JUSTIFICATION, **CASE)
    created = met.client.post(URL, payload, format="json")
    assert created.status_code == 201, created.content
    disclosure = DisclosureRequest.objects.get(pk=created.json()["id"])
    assert (disclosure.case_reference, disclosure.issuing_authority) == tuple(CASE.values())

    dump = database_dump()
    callbacks = [met.agency.callback_phone, met.agency.callback_phone[1:],
                 met.agency.callback_email]
    for value in [JUSTIFICATION, "Zephyrine", *OFFICER.values(), OFFICER["phone"][1:],
                  *callbacks, *CASE.values(), "QUAVERLING", "Thistlewick"]:
        assert value not in dump, "request detail readable in the database"
        assert value.lower() not in dump.lower(), "request detail readable in the database"


def test_the_agency_reads_back_what_it_filed(met: Any, targets: list[Any]) -> None:
    assert Agency.objects.get(pk=met.agency.pk).callback_phone == "+442072301212"
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym], officer=OFFICER,
                                           justification=JUSTIFICATION)
    created = met.client.post(URL, payload, format="json").json()
    shown = met.client.get(f"{URL}/{created['id']}").json()
    assert shown["officer"] == OFFICER
    assert shown["justification"] == JUSTIFICATION
    stored = DisclosureRequest.objects.get(pk=created["id"])
    assert (stored.officer_name, stored.justification) == (OFFICER["name"], JUSTIFICATION)


def test_a_sealed_detail_copied_to_another_row_does_not_open(met: Any, targets: list[Any]
                                                             ) -> None:
    first = factories.disclosure_request(agency=met.agency, targets=targets[:1])
    second = factories.disclosure_request(agency=met.agency, targets=targets[1:2])
    raw = DisclosureRequest.objects.filter(pk=first.pk).values_list("justification", flat=True)
    DisclosureRequest.objects.filter(pk=second.pk).update(justification=bytes(raw.get()))
    with pytest.raises(BlobUnsealError):
        _ = DisclosureRequest.objects.get(pk=second.pk).justification
    assert DisclosureRequest.objects.get(pk=first.pk).justification == first.justification



def test_the_migration_seals_existing_rows_and_reverses(met: Any, targets: list[Any]) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("migrating inside the test's transaction needs PostgreSQL's transactional DDL")
    filed = factories.disclosure_request(agency=met.agency, targets=targets[:1])
    texts = {name: getattr(filed, name) for name in SEALED}
    with connection.cursor() as cursor:  # check the new rows' keys now, so tables can change
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])  # back to text columns: the row is opened into them
    executor.loader.build_graph()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SELECT justification, officer_name, case_reference"
                       " FROM legal_requests_disclosurerequest WHERE id = %s", [filed.pk])
        assert cursor.fetchone() == (texts["justification"], texts["officer_name"],
                                     texts["case_reference"])
    executor.migrate([AFTER])  # forward again: the text is sealed
    reloaded = DisclosureRequest.objects.get(pk=filed.pk)
    assert {name: getattr(reloaded, name) for name in SEALED} == texts
    dump = database_dump()
    assert texts["justification"] not in dump
    assert texts["case_reference"] not in dump


def test_an_unset_detail_reads_and_stores_as_empty_text() -> None:
    unsaved = DisclosureRequest()
    assert unsaved.officer_rank == ""
    assert unsaved.justification == ""


def test_no_mail_recipient_in_a_database_dump(met: Any, targets: list[Any]) -> None:
    # The download-secret mail goes to the requesting officer, whose address the request
    # itself keeps sealed; a plain copy in the outbox would undo that.
    from legal_requests.services.mail import mail_queue

    payload = factories.disclosure_payload(targets=[targets[0].pseudonym], officer=OFFICER)
    created = met.client.post(URL, payload, format="json")
    assert created.status_code == 201, created.content
    disclosure = DisclosureRequest.objects.get(pk=created.json()["id"])
    mail = mail_queue(disclosure=disclosure, kind="download_secret",
                      recipient=disclosure.officer_email, subject="Package ready", body="-")
    mail.refresh_from_db()
    assert mail.recipient == OFFICER["email"]  # read back through the model, as the sender does
    assert OFFICER["email"] not in database_dump()
