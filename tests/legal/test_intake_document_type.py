"""A legal document must be what it is declared as: its first bytes are checked against
its content type at intake, for the API and the console alike (one service)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from escrow.log.models import AuditEvent
from legal_requests.models import DisclosureRequest
from legal_requests.services.intake import (
    DOCUMENT_TYPES,
    DocumentTypeMismatch,
    LegalDocument,
    document_type_check,
)
from tests import factories

SAMPLES = {
    "application/pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
    "image/png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "image/tiff": b"II*\x00\x08\x00\x00\x00",
    "text/plain": "Production order, page 1 — R v. Example\n".encode(),
}


def test_every_accepted_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(DOCUMENT_TYPES)


@pytest.mark.parametrize("content_type", sorted(SAMPLES))
def test_each_type_accepts_its_own_bytes_and_no_other_types(content_type: str) -> None:
    document_type_check(LegalDocument(name="d", content_type=content_type,
                                      content=SAMPLES[content_type]))
    for other, content in SAMPLES.items():
        if other == content_type or content_type == "text/plain":
            continue
        with pytest.raises(DocumentTypeMismatch):
            document_type_check(LegalDocument(name="d", content_type=content_type,
                                              content=content))


@pytest.mark.parametrize("content", [b"\xff\xfe\x00h\x00i", b"text\x00with a NUL"])
def test_plain_text_must_be_utf8_without_nul(content: bytes) -> None:
    with pytest.raises(DocumentTypeMismatch):
        document_type_check(LegalDocument(name="d", content_type="text/plain", content=content))


@pytest.mark.django_db
def test_the_api_refuses_a_disguised_document_and_logs_it(met: Any, targets: list[Any]) -> None:
    payload = factories.disclosure_payload(targets=[targets[0].pseudonym], document={
        "name": "order.pdf", "content_type": "application/pdf",
        "content_base64": base64.b64encode(SAMPLES["image/png"]).decode()})
    response = met.client.post("/api/v1/disclosure-requests", payload, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "document_type_mismatch"
    assert not DisclosureRequest.objects.exists()
    refused = AuditEvent.objects.get(event_type="disclosure.refused_at_intake")
    assert json.loads(bytes(refused.entry))["details"]["reason"] == "document_type_mismatch"
