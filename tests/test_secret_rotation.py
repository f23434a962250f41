"""Versioned service secrets: blind-index rotation keeps matching, resumes, retires."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from escrow.crypto.blind_index import blind_index_rekey, identity_match_keys
from escrow.keys import platform_key
from escrow.log.models import AuditEvent
from escrow.vault.checks import check_secret_versions
from escrow.vault.identity import Evidence, Identity
from escrow.vault.models import BlindIndex, BlindIndexRotation, Enrolment
from escrow.vault.services import secret_versions
from escrow.vault.services.enrolment import enrolment_create
from escrow.vault.services.secret_versions import (
    SecretVersionRetired,
    blind_index_versions,
)
from tests import factories

pytestmark = pytest.mark.django_db

SECRET_V2 = "second-blind-index-secret-for-tests-0123456789"
SECRET_V3 = "third-blind-index-secret-for-tests-9876543210"


@pytest.fixture(autouse=True)
def _versions(settings: Any) -> None:
    settings.ESCROW_SECRET_VERSIONS = f"2={SECRET_V2},3={SECRET_V3}"


def _enrol(platform: Any, email: str) -> Any:
    identity = Identity(given_name="Erin", family_name="Okafor", email=email)
    evidence = Evidence(provider="demo-idv", reference="ref", assurance_level="high",
                        verified_at=datetime(2026, 11, 1, tzinfo=UTC))
    return enrolment_create(platform=platform, identity=identity, evidence=evidence,
                            idempotency_key=factories.idempotency_key())


def _rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("blind_index_rotate", *args, stdout=out)
    return out.getvalue()


def test_matching_survives_secret_rotation(escrow_keypair: Any) -> None:
    platform = factories.PlatformFactory()
    before = _enrol(platform, "erin@mail.example").enrolment
    _rotate("--to", "2", "--batch", "1")
    after = _enrol(platform, "erin@mail.example")
    assert after.existing_pseudonyms == [before.pseudonym]
    assert set(BlindIndex.objects.values_list("version", flat=True)) == {2}
    # A second rotation chains on the first.
    _rotate("--to", "3")
    third = _enrol(platform, "erin@mail.example")
    assert third.existing_pseudonyms == sorted([before.pseudonym, after.enrolment.pseudonym])
    assert _enrol(platform, "someone.else@mail.example").existing_pseudonyms == []


def test_matching_checks_every_live_version_during_rotation(escrow_keypair: Any) -> None:
    platform = factories.PlatformFactory()
    first = _enrol(platform, "a@mail.example").enrolment
    second = _enrol(platform, "b@mail.example").enrolment
    _rotate("--to", "2", "--batch", "1", "--max-batches", "1")
    versions = set(BlindIndex.objects.values_list("version", flat=True))
    assert versions == {1, 2}  # half way: both versions stored, both live
    assert _enrol(platform, "a@mail.example").existing_pseudonyms == [first.pseudonym]
    assert _enrol(platform, "b@mail.example").existing_pseudonyms == [second.pseudonym]


def test_a_rotation_started_elsewhere_is_honoured_by_the_next_enrolment(
    escrow_keypair: Any,
) -> None:
    platform = factories.PlatformFactory()
    first = _enrol(platform, "a@mail.example").enrolment  # this process reads version 1
    # Another process starts a rotation; this one has not read the versions since.
    BlindIndexRotation.objects.create(to_version=2, from_version=1, started_at=timezone.now())
    again = _enrol(platform, "a@mail.example")
    assert again.existing_pseudonyms == [first.pseudonym]  # version 1 is still live
    stored = BlindIndex.objects.filter(enrolment=again.enrolment)
    assert set(stored.values_list("version", flat=True)) == {2}
    # ... and finishes it (every earlier row re-keyed): version 1 is retired.
    secret_versions.blind_index_rotation_batch(
        rotation=BlindIndexRotation.objects.get(pk=2), batch_size=100
    )
    BlindIndexRotation.objects.filter(pk=2).update(finished_at=timezone.now())
    third = _enrol(platform, "a@mail.example")
    assert third.existing_pseudonyms == sorted([first.pseudonym, again.enrolment.pseudonym])
    assert set(BlindIndex.objects.values_list("version", flat=True)) == {2}


def test_rotation_is_resumable_and_rekeys_each_row_exactly_once(escrow_keypair: Any) -> None:
    platform = factories.PlatformFactory()
    for n in range(5):
        _enrol(platform, f"user{n}@mail.example")
    original = {row.pk: bytes(row.digest) for row in BlindIndex.objects.all()}
    output = _rotate("--to", "2", "--batch", "2", "--max-batches", "1")
    assert "re-keyed 2/" in output
    assert "resume" in output
    assert BlindIndexRotation.objects.get(pk=2).finished_at is None

    output = _rotate("--to", "2", "--batch", "2")
    assert "resuming at 2/" in output
    assert "finished" in output
    key = platform_key(platform_id=str(platform.id), purpose="blind-index", version=2)
    rotated = {row.pk: (row.version, bytes(row.digest)) for row in BlindIndex.objects.all()}
    # Exactly once: each digest is the old one wrapped once, not twice, not left alone.
    assert rotated == {
        pk: (2, blind_index_rekey(key=key, digest=digest)) for pk, digest in original.items()
    }
    rotation = BlindIndexRotation.objects.get(pk=2)
    assert rotation.rows_done == rotation.rows_total == len(original)
    events = list(AuditEvent.objects.filter(event_type__startswith="blind_index.rotation_")
                  .values_list("event_type", flat=True).order_by("pk"))
    assert events == ["blind_index.rotation_started", "blind_index.rotation_finished"]


def test_a_rotation_killed_inside_a_batch_loses_nothing(
    escrow_keypair: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = factories.PlatformFactory()
    for n in range(3):
        _enrol(platform, f"user{n}@mail.example")
    original = {row.pk: bytes(row.digest) for row in BlindIndex.objects.all()}
    real_rekey = secret_versions.blind_index_rekey
    calls = 0

    def dies_on_the_second_row(*, key: bytes, digest: bytes) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        return real_rekey(key=key, digest=digest)

    monkeypatch.setattr(secret_versions, "blind_index_rekey", dies_on_the_second_row)
    with pytest.raises(KeyboardInterrupt):
        _rotate("--to", "2", "--batch", "10")
    assert set(BlindIndex.objects.values_list("version", flat=True)) == {1}
    assert BlindIndexRotation.objects.get(pk=2).rows_done == 0

    monkeypatch.setattr(secret_versions, "blind_index_rekey", real_rekey)
    _rotate("--to", "2")
    key = platform_key(platform_id=str(platform.id), purpose="blind-index", version=2)
    assert {row.pk: bytes(row.digest) for row in BlindIndex.objects.all()} == {
        pk: real_rekey(key=key, digest=digest) for pk, digest in original.items()
    }


def test_a_retired_version_is_refused(escrow_keypair: Any) -> None:
    platform = factories.PlatformFactory()
    _enrol(platform, "erin@mail.example")
    _rotate("--to", "2")
    # An index written under version 1 after the rotation finished is never matched.
    stale = _enrol(platform, "stale@mail.example").enrolment
    key = platform_key(platform_id=str(platform.id), purpose="blind-index", version=2)
    for row in BlindIndex.objects.filter(enrolment=stale):
        v1 = identity_match_keys(
            key=platform_key(platform_id=str(platform.id), purpose="blind-index"),
            identity={"given_name": "Erin", "family_name": "Okafor",
                      "email": "stale@mail.example"},
        )[row.kind]
        assert bytes(row.digest) == blind_index_rekey(key=key, digest=v1)
        BlindIndex.objects.filter(pk=row.pk).update(version=1, digest=v1)
    assert _enrol(platform, "stale@mail.example").existing_pseudonyms == []
    versions = blind_index_versions()
    assert versions.live == (2,)
    with pytest.raises(SecretVersionRetired, match="version 1 is retired"):
        versions.require_live(1)
    with pytest.raises(SecretVersionRetired):
        secret_versions.blind_index_rotation_batch(
            rotation=BlindIndexRotation.objects.get(pk=2), batch_size=10
        )
    for target in ("1", "2"):
        with pytest.raises(CommandError, match="not newer"):
            _rotate("--to", target)
    assert "live versions: [2]" in _rotate("--status")


def test_a_rotation_to_an_unconfigured_version_is_refused(escrow_keypair: Any) -> None:
    with pytest.raises(CommandError, match="not in ESCROW_SECRET_VERSIONS"):
        _rotate("--to", "7")
    assert not BlindIndexRotation.objects.exists()


def test_pseudonyms_unchanged_by_rotation(escrow_keypair: Any, settings: Any) -> None:
    platform = factories.PlatformFactory()
    before = _enrol(platform, "erin@mail.example").enrolment
    settings.ESCROW_PSEUDONYM_SECRET_VERSION = 2
    _rotate("--to", "2")
    stored = Enrolment.objects.get(pk=before.pk)
    assert (stored.pseudonym, stored.pseudonym_version) == (before.pseudonym, 1)
    after = _enrol(platform, "erin@mail.example")
    assert after.enrolment.pseudonym_version == 2
    assert after.existing_pseudonyms == [before.pseudonym]



def test_misconfigured_secret_versions_fail_the_system_checks(settings: Any) -> None:
    settings.ESCROW_SECRET_VERSIONS = "2=short"
    settings.ESCROW_PSEUDONYM_SECRET_VERSION = 3
    assert sorted(e.id for e in check_secret_versions(None)) == ["escrow.E202", "escrow.E203"]
    settings.ESCROW_SECRET_VERSIONS = "two=" + SECRET_V2
    [error] = check_secret_versions(None)
    assert error.id == "escrow.E201"
    assert SECRET_V2 not in error.msg
    settings.ESCROW_SECRET_VERSIONS = f"2={SECRET_V2}"
    settings.ESCROW_PSEUDONYM_SECRET_VERSION = 2
    assert check_secret_versions(None) == []
