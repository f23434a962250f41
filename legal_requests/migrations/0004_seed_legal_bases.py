"""Seed the jurisdictions the service knows and their legal bases.

Jurisdictions are created disabled: an operator enables each one in the admin after
legal review. Existing rows are never overwritten, so admin edits survive a re-run.
"""

from django.db import migrations

NAMES = ("given_name", "family_name")
CONTACT = ("email", "phone")
DOCUMENT = ("document_type", "document_number", "document_country")

JURISDICTIONS = [
    ("GB-EAW", "England and Wales"),
    ("GB-SCT", "Scotland"),
    ("US", "United States (federal)"),
]

# (code, jurisdiction, name, releasable fields, approvals required, is_emergency)
LEGAL_BASES = [
    ("GB-EAW:ipa-part3", "GB-EAW",
     "Investigatory Powers Act 2016 Part 3 authorisation (communications data)",
     [*NAMES, "date_of_birth", "postal_address", *CONTACT], 2, False),
    ("GB-EAW:production-order", "GB-EAW",
     "Production order (PACE 1984, Schedule 1)",
     [*NAMES, "date_of_birth", "postal_address", *CONTACT], 2, False),
    ("GB-EAW:court-order", "GB-EAW", "Court order",
     [*NAMES, "date_of_birth", "postal_address", *CONTACT, *DOCUMENT], 2, False),
    ("GB-EAW:emergency", "GB-EAW",
     "Emergency disclosure: imminent threat to life or of serious harm",
     [*NAMES, "postal_address", "phone"], 1, True),
    ("GB-SCT:ipa-part3", "GB-SCT",
     "Investigatory Powers Act 2016 Part 3 authorisation (communications data)",
     [*NAMES, "date_of_birth", "postal_address", *CONTACT], 2, False),
    ("GB-SCT:production-order", "GB-SCT",
     "Production order (Proceeds of Crime Act 2002 s.380 / sheriff's warrant)",
     [*NAMES, "date_of_birth", "postal_address", *CONTACT], 2, False),
    ("GB-SCT:court-order", "GB-SCT", "Court order",
     [*NAMES, "date_of_birth", "postal_address", *CONTACT, *DOCUMENT], 2, False),
    ("GB-SCT:emergency", "GB-SCT",
     "Emergency disclosure: imminent threat to life or of serious harm",
     [*NAMES, "postal_address", "phone"], 1, True),
    ("US:subpoena", "US", "Subpoena (18 U.S.C. 2703(c)(2))",
     [*NAMES, "postal_address"], 2, False),
    ("US:2703d-order", "US", "Court order under 18 U.S.C. 2703(d)",
     [*NAMES, "date_of_birth", "postal_address", *CONTACT], 2, False),
    ("US:search-warrant", "US", "Search warrant (18 U.S.C. 2703(a)-(c), Fed. R. Crim. P. 41)",
     [*NAMES, "date_of_birth", "postal_address", *CONTACT, *DOCUMENT], 2, False),
    ("US:emergency", "US", "Emergency disclosure (18 U.S.C. 2702(c)(4))",
     [*NAMES, "postal_address", "phone"], 1, True),
]


def seed(apps, schema_editor):
    Jurisdiction = apps.get_model("accounts", "Jurisdiction")
    LegalBasis = apps.get_model("legal_requests", "LegalBasis")
    for code, name in JURISDICTIONS:
        Jurisdiction.objects.get_or_create(code=code, defaults={"name": name, "is_enabled": False})
    for code, jurisdiction, name, fields, approvals, emergency in LEGAL_BASES:
        LegalBasis.objects.get_or_create(
            code=code,
            defaults={
                "jurisdiction_id": jurisdiction,
                "name": name,
                "releasable_fields": list(fields),
                "approvals_required": approvals,
                "is_emergency": emergency,
            },
        )


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_webhookendpoint"),
        ("legal_requests", "0003_workflow_fields"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
