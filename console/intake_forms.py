"""The intake officer's form for a request received on paper or by email.

It checks what was typed and turns it into the intake service's Submission; whether
the request is acceptable (agency, legal basis, fields, dates, the document's size,
type and first bytes) is the service's decision, logged like an API refusal.
"""

from __future__ import annotations

import mimetypes
import re
from datetime import UTC
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from escrow.crypto.pseudonym import InvalidPseudonym, pseudonym_parse
from escrow.vault.identity import IDENTITY_FIELDS
from legal_requests.services.intake import DOCUMENT_TYPES, LegalDocument, Officer, Submission

MAX_TARGETS = 100  # as the API's `targets`
_UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f]")


def _text(label: str, max_length: int, **kwargs: Any) -> forms.CharField:
    return forms.CharField(label=label, max_length=max_length, **kwargs)


def _area(label: str, max_length: int, rows: int, **kwargs: Any) -> forms.CharField:
    return forms.CharField(label=label, max_length=max_length,
                           widget=forms.Textarea(attrs={"rows": rows}), **kwargs)


class PaperRequestForm(forms.Form):
    agency = forms.ChoiceField(label="Agency",
                               help_text="The verified agency the document came from.")
    officer_name = _text("Requesting officer's name", 200)
    officer_rank = _text("Rank", 100, required=False)
    officer_badge = _text("Badge number", 50, required=False)
    officer_email = forms.EmailField(label="Officer's official email", max_length=254)
    officer_phone = forms.RegexField(label="Officer's telephone", regex=r"^\+?[0-9 ()-]{6,40}$",
                                     max_length=40)
    case_reference = _text("The agency's case reference", 100)
    legal_basis = forms.ChoiceField(label="Legal basis")
    issuing_authority = _text("Issuing authority", 200,
                              help_text="The court or officer who issued the document.")
    issued_on = forms.DateField(label="Issued on",
                                widget=forms.DateInput(attrs={"type": "date"}))
    expires_at = forms.DateTimeField(
        label="Expires (UTC)", help_text="Date and time the authority ends, in UTC.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    targets = _area("Pseudonyms", 100 * 64, 4,
                    help_text=f"One per line, as the document names them (at most {MAX_TARGETS}).")
    requested_fields = forms.MultipleChoiceField(
        label="Identity fields requested", widget=forms.CheckboxSelectMultiple,
        choices=[(f, f.replace("_", " ")) for f in IDENTITY_FIELDS])
    justification = _area("Justification", 20000, 4)
    emergency_facts = _area("Facts of the emergency", 20000, 3, required=False,
                            help_text="Emergency bases only: the imminent threat.")
    nondisclosure_until = forms.DateField(
        label="Non-disclosure until", required=False,
        help_text="The user may not be told before this date.",
        widget=forms.DateInput(attrs={"type": "date"}))
    nondisclosure_basis = _text("Non-disclosure imposed by", 200, required=False)
    document = forms.FileField(
        label="The legal document",
        help_text="PDF, PNG, JPEG, TIFF or plain text, as received; at most "
                  f"{settings.DISCLOSURE_DOCUMENT_MAX_BYTES // (1024 * 1024)} MiB.")

    def __init__(self, *args: Any, agencies: list[tuple[str, str]],
                 legal_bases: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, choices in (("agency", agencies), ("legal_basis", legal_bases)):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)  # noqa: S101  (declared above)
            field.choices = [("", "Choose…"), *choices]

    def clean_targets(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["targets"].splitlines()]
        pseudonyms = [line for line in lines if line]
        if not pseudonyms:
            raise forms.ValidationError("Give at least one pseudonym.")
        if len(pseudonyms) > MAX_TARGETS or any(len(p) > 64 for p in pseudonyms):
            raise forms.ValidationError(f"At most {MAX_TARGETS} pseudonyms of 64 characters.")
        mistyped = []
        for line, pseudonym in enumerate(pseudonyms, start=1):
            try:
                pseudonym_parse(pseudonym)
            except InvalidPseudonym as exc:
                # The reason (length, checksum, ...), never the text: it may be personal data.
                mistyped.append(f"line {line} ({exc.reason})")
        if mistyped:
            raise forms.ValidationError("Not a well-formed pseudonym: " + ", ".join(mistyped)
                                        + ". Check it against the document.")
        return pseudonyms

    def clean_expires_at(self) -> Any:
        # The field is labelled UTC: read it so whatever the server's time zone.
        return self.cleaned_data["expires_at"].replace(tzinfo=UTC)

    def clean_document(self) -> LegalDocument:
        upload: UploadedFile = self.cleaned_data["document"]
        name = (upload.name or "document")[-200:]
        if _UNSAFE_NAME.search(name):
            raise forms.ValidationError("The file name has characters that are not allowed.")
        content_type = upload.content_type or ""
        if content_type not in DOCUMENT_TYPES:
            # Browsers send octet-stream for types they do not know (TIFF, often).
            content_type = mimetypes.guess_type(name)[0] or content_type
        if content_type not in DOCUMENT_TYPES:
            raise forms.ValidationError("Upload a PDF, PNG, JPEG, TIFF or plain-text document.")
        # One byte over the limit is enough for the service to refuse it as too large.
        content = upload.read(settings.DISCLOSURE_DOCUMENT_MAX_BYTES + 1)
        if not content:
            raise forms.ValidationError("The document is empty.")
        return LegalDocument(name=name, content_type=content_type, content=content)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("officer_rank") and not data.get("officer_badge"):
            self.add_error("officer_rank", "Give the officer's rank or badge number.")
        if data.get("nondisclosure_until") and not data.get("nondisclosure_basis"):
            self.add_error("nondisclosure_basis", "Say which order or statute imposes it.")
        return data

    def submission(self) -> Submission:
        data = self.cleaned_data
        return Submission(
            officer=Officer(name=data["officer_name"], email=data["officer_email"],
                            phone=data["officer_phone"], rank=data["officer_rank"],
                            badge=data["officer_badge"]),
            case_reference=data["case_reference"],
            legal_basis_code=data["legal_basis"],
            issuing_authority=data["issuing_authority"],
            document=data["document"],
            issued_on=data["issued_on"],
            expires_at=data["expires_at"],
            pseudonyms=data["targets"],
            requested_fields=[f for f in IDENTITY_FIELDS if f in data["requested_fields"]],
            justification=data["justification"],
            nondisclosure_until=data["nondisclosure_until"],
            nondisclosure_basis=data["nondisclosure_basis"] if data["nondisclosure_until"] else "",
            emergency_facts=data["emergency_facts"],
        )
