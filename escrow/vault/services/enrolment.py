"""Changes to the vault: enrol, ban, unban, erase. One transaction each, audited."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import AutoField, Field, Model
from django.db.models.expressions import DatabaseDefault
from django.utils import timezone

from accounts.models import Platform, WebhookEventType
from accounts.services import webhook_event_enqueue
from escrow.crypto.encoding import b64encode
from escrow.crypto.envelope import FieldContext, field_seal, point_commitment
from escrow.crypto.pseudonym import pseudonym_derive
from escrow.keys import platform_key, service_key
from escrow.log.events import Actor, event_prepare, event_record
from escrow.vault.identity import (
    Evidence,
    Identity,
    PostalAddress,
    match_attributes,
    sealed_field_values,
)
from escrow.vault.models import BlindIndex, Enrolment
from escrow.vault.selectors import enrolment_legal_hold_active, escrow_key_active
from escrow.vault.services.secret_versions import (
    BlindIndexVersions,
    RotationStep,
    blind_index_versions_confirmed,
    blind_index_versions_remembered,
    identity_match_keys_versioned,
    rotation_steps,
    rotation_steps_sql,
)

# A person enrolled more often than this is reported as a match of at most this many: the
# first ones by pseudonym, so a retry lists the same ones.
MAX_REPORTED_MATCHES = 50


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was already used for a different request body."""


class EnrolmentStateConflict(Exception):
    """The enrolment is not in a state that allows this change."""


class EnrolmentUnderLegalHold(Exception):
    """A preservation request covers this enrolment; it cannot be erased now."""


@dataclass(frozen=True)
class EnrolmentResult:
    enrolment: Enrolment
    existing_pseudonyms: list[str]
    any_banned: bool
    replayed: bool


_IDENTITY_ATTRIBUTES = tuple(f.name for f in fields(Identity))
_ADDRESS_ATTRIBUTES = tuple(f.name for f in fields(PostalAddress))
_EVIDENCE_ATTRIBUTES = tuple(f.name for f in fields(Evidence))


def _fingerprint(*, platform: Platform, identity: Identity, evidence: Evidence) -> bytes:
    # Keyed, so a database dump cannot test guessed identities against it.
    plain_identity: dict[str, Any] = {a: getattr(identity, a) for a in _IDENTITY_ATTRIBUTES}
    address = identity.postal_address
    if address is not None:
        plain_identity["postal_address"] = {a: getattr(address, a) for a in _ADDRESS_ATTRIBUTES}
    # The JSON of dataclasses.asdict() (a stored fingerprint must keep matching its retry),
    # without its deep copies.
    body = json.dumps(
        {"identity": plain_identity,
         "evidence": {a: getattr(evidence, a) for a in _EVIDENCE_ATTRIBUTES}},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    ).encode()
    return hmac.new(service_key("idempotency"), str(platform.id).encode() + b"\x00" + body,
                    hashlib.sha256).digest()


def _answer_from(enrolment: Enrolment, matches: list[tuple[str, str]]) -> EnrolmentResult:
    return EnrolmentResult(
        enrolment=enrolment,
        existing_pseudonyms=sorted({p for p, _ in matches}),
        any_banned=any(s == Enrolment.Status.BANNED for _, s in matches),
        replayed=False,
    )


@dataclass(frozen=True)
class _SealedEnrolment:
    """What is stored for a new enrolment, computed before the transaction opens."""

    record_id: uuid.UUID
    pseudonym: str
    epoch: int
    sealed_fields: dict[str, str]
    # field name -> hex commitment to the field's ephemeral point, logged at enrolment.
    point_commitments: dict[str, str]
    pseudonym_version: int
    # blind-index secret version -> kind -> digest, for every live version
    match_keys: dict[int, dict[str, bytes]]
    # the versions they were derived under; the new indexes are stored under `.write`
    match_versions: BlindIndexVersions


def _identity_seal(
    *, platform: Platform, identity: Identity, evidence: Evidence
) -> _SealedEnrolment:
    """Seal every present field under the active escrow key and derive the pseudonym and
    blind indexes. It writes nothing, so the sealing stays outside the transaction."""
    public_key = escrow_key_active()
    record_id = uuid.uuid4()
    platform_id = str(platform.id)
    pseudonym_version = settings.ESCROW_PSEUDONYM_SECRET_VERSION
    pseudonym = pseudonym_derive(
        platform_key=platform_key(
            platform_id=platform_id, purpose="pseudonym", version=pseudonym_version
        ),
        record_id=record_id.bytes,
    )
    sealed: dict[str, str] = {}
    point_commitments: dict[str, str] = {}
    for name, value in sealed_field_values(identity=identity, evidence=evidence).items():
        context = FieldContext(
            record_id=str(record_id), platform_id=platform_id, field_name=name,
            epoch=public_key.epoch,
        )
        envelope = field_seal(public_key=public_key, context=context, plaintext=value)
        sealed[name] = b64encode(envelope.to_bytes())
        point_commitments[name] = point_commitment(
            context=context, ephemeral_point=envelope.ephemeral_point
        ).hex()
    versions = blind_index_versions_remembered()  # confirmed by _matches_earlier
    return _SealedEnrolment(
        record_id=record_id, pseudonym=pseudonym, epoch=public_key.epoch, sealed_fields=sealed,
        point_commitments=point_commitments, pseudonym_version=pseudonym_version,
        match_keys=_match_keys(platform=platform, identity=identity, versions=versions),
        match_versions=versions,
    )


def _match_keys(*, platform: Platform, identity: Identity, versions: BlindIndexVersions
                ) -> dict[int, dict[str, bytes]]:
    return identity_match_keys_versioned(
        platform_id=str(platform.id), identity=match_attributes(identity), versions=versions
    )


@contextlib.contextmanager
def _prepared_cursor() -> Iterator[Any]:
    """A cursor whose statements PostgreSQL plans once per connection and keeps.

    Django's cursors bind parameters on the client and never prepare, so a statement is
    parsed and planned on every execution: about 0.2 ms of PostgreSQL's CPU for the
    blind-index lookup, half of the statement's cost. This one binds on the server and
    has psycopg prepare each statement on its first execution (the blind-index lookup
    and the enrolment's INSERT, a handful of texts per connection). Everything else
    goes on as before: the cursor is Django's wrapper (query logging, execute
    wrappers), only the class under it binds on the server. Only on PostgreSQL; a
    pooler in transaction mode would have to keep prepared statements per client
    (docs/operations.md).
    """
    from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]
        ServerBindingCursor,  # psycopg 3 only; not in the stubs
    )

    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:  # Django turns preparing off; client-side cursors
        raw.prepare_threshold = 0  # never prepare, so this reaches only ours
    factory = raw.cursor_factory
    raw.cursor_factory = ServerBindingCursor
    try:
        cursor = connection.cursor()
    finally:
        raw.cursor_factory = factory
    with cursor:
        yield cursor


def _matches_earlier(*, platform: Platform, sealed: _SealedEnrolment
                     ) -> tuple[list[tuple[str, str]], list[RotationStep]]:
    """Enrolments of the same person on this platform, by blind index, and the blind-index
    rotation steps read in the same statement (to confirm the versions the indexes were
    derived under).

    Read in a statement of its own, before the write: under READ COMMITTED (the
    service's isolation level) a statement sees the same committed rows whether or not
    it runs inside the write's transaction, so this costs no guarantee. Written in SQL
    because building the same query with the ORM took more time than running it.
    """
    # Every live version, and only those: during a rotation an earlier identity's indexes
    # may be under either, and an index left under a retired version is never asked for
    # (indexes of different versions are independent PRF outputs).
    digests = [d for keys in sealed.match_keys.values() for d in keys.values()]
    platform_id = BlindIndex._meta.get_field("platform").get_db_prep_value(platform.id, connection)
    in_digests = ", ".join(["%s"] * len(digests)) or "NULL"
    if connection.vendor != "postgresql":
        # The embedded default (SQLite): the steps in a statement of their own, read
        # after the matches, so a rotation that began in between is still seen.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT e.pseudonym, e.status FROM {BlindIndex._meta.db_table} b "  # noqa: S608  # nosec B608
                f"JOIN {Enrolment._meta.db_table} e ON e.id = b.enrolment_id "
                f"WHERE b.platform_id = %s AND b.digest IN ({in_digests}) "
                "ORDER BY e.pseudonym, e.status LIMIT %s",
                [platform_id, *digests, MAX_REPORTED_MATCHES],
            )
            matches = [(pseudonym, status) for pseudonym, status in cursor.fetchall()]
        return matches, rotation_steps()
    # Always one row, for the steps; a match in each (the LEFT JOIN keeps the row without).
    with _prepared_cursor() as cursor:
        cursor.execute(
            f"SELECT {rotation_steps_sql()}, m.pseudonym, m.status FROM (SELECT 1) one "  # noqa: S608  # nosec B608
            "LEFT JOIN (SELECT DISTINCT e.pseudonym, e.status "
            f"FROM {BlindIndex._meta.db_table} b "
            f"JOIN {Enrolment._meta.db_table} e ON e.id = b.enrolment_id "
            f"WHERE b.platform_id = %s AND b.digest IN ({in_digests}) "
            "ORDER BY e.pseudonym, e.status LIMIT %s) m ON true",
            [platform_id, *digests, MAX_REPORTED_MATCHES],
        )
        rows = cursor.fetchall()
    listed = rows[0][0]
    if isinstance(listed, str):  # a driver that leaves json undecoded
        listed = json.loads(listed)
    steps = [(int(to), int(source), bool(done)) for to, source, done in listed]
    return [(p, status) for _, p, status in rows if p is not None], steps


def _matches_confirmed(*, platform: Platform, identity: Identity, sealed: _SealedEnrolment
                       ) -> tuple[_SealedEnrolment, list[tuple[str, str]]]:
    """The earlier matches, with the indexes derived again (and looked for again) if the
    blind-index versions changed since this process last read them."""
    while True:
        matches, steps = _matches_earlier(platform=platform, sealed=sealed)
        if blind_index_versions_confirmed(sealed.match_versions, steps) is not None:
            return sealed, matches
        versions = blind_index_versions_remembered()
        sealed = replace(
            sealed, match_versions=versions,
            match_keys=_match_keys(platform=platform, identity=identity, versions=versions),
        )


_insert_heads: dict[type[Model], tuple[list[Field[Any, Any]], str]] = {}


def _insert_head(model: type[Model]) -> tuple[list[Field[Any, Any]], str]:
    """The columns an INSERT of `model` writes (all but an auto-increment key) and the
    statement's head, as Django's insert compiler writes them on PostgreSQL."""
    if model not in _insert_heads:
        fields = [f for f in model._meta.concrete_fields if not isinstance(f, AutoField)]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in fields)
        table = quote(model._meta.db_table)
        _insert_heads[model] = (
            fields, f"INSERT INTO {table} ({columns}) VALUES ",  # noqa: S608  # nosec B608 - names from model metadata
        )
    return _insert_heads[model]


def _insert_sql(rows: list[Any]) -> tuple[str, list[Any]]:
    """One multi-row INSERT of `rows` (instances of one model) on PostgreSQL.

    The statement Django's compiler writes, without compiling it per request (which took
    most of a millisecond for the three of a signup): each value is prepared by its
    field's own `pre_save` and `get_db_prep_save`, as the compiler does, and a column
    left to its database default is DEFAULT. tests/test_enrolment_insert.py holds the
    text and parameters equal to the compiler's.
    """
    fields, head = _insert_head(type(rows[0]))
    tuples: list[str] = []
    params: list[Any] = []
    for row in rows:
        marks: list[str] = []
        for field in fields:
            value = field.pre_save(row, add=True)
            if isinstance(value, DatabaseDefault):
                marks.append("DEFAULT")
                continue
            if hasattr(value, "resolve_expression"):  # no other expression is written here
                raise TypeError(f"{field} holds an SQL expression")
            marks.append("%s")
            params.append(field.get_db_prep_save(value, connection=connection))
        tuples.append(f"({', '.join(marks)})")
    return head + ", ".join(tuples), params


def _rows_insert(groups: list[list[Any]]) -> None:
    """Insert every group of rows atomically, in one round trip on PostgreSQL.

    There the groups become one statement (data-modifying WITH clauses), which is its own
    transaction: all rows are stored, or none, with no BEGIN or COMMIT to wait for.
    Foreign keys are checked at the end of the statement, so the order does not matter.
    """
    if connection.vendor != "postgresql":
        with transaction.atomic():
            for rows in groups:
                type(rows[0]).objects.bulk_create(rows)
        return
    (main_sql, main_params), *others = [_insert_sql(rows) for rows in groups]
    clauses = ", ".join(f"rows_{n} AS ({sql})" for n, (sql, _) in enumerate(others))
    params = [p for _, group_params in others for p in group_params] + main_params
    # Inside a caller's transaction a failure must not abort it: a savepoint isolates it.
    scope = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    with scope, _prepared_cursor() as cursor:
        cursor.execute(f"WITH {clauses} {main_sql}", params)


def _enrolment_insert(
    *, platform: Platform, identity: Identity, sealed: _SealedEnrolment, evidence: Evidence,
    idempotency_key: str, fingerprint: bytes, now: datetime,
) -> EnrolmentResult:
    """Earlier matches, then the enrolment, its blind indexes and its audit event, stored
    together (one transaction)."""
    sealed, matches = _matches_confirmed(platform=platform, identity=identity, sealed=sealed)
    enrolment = Enrolment(
        id=sealed.record_id,
        platform=platform,
        pseudonym=sealed.pseudonym,
        pseudonym_version=sealed.pseudonym_version,
        key_epoch=sealed.epoch,
        sealed_fields=sealed.sealed_fields,
        evidence_provider=evidence.provider,
        evidence_assurance_level=evidence.assurance_level,
        evidence_verified_at=evidence.verified_at,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        created_at=now,
    )
    blind_indexes = [
        BlindIndex(platform=platform, enrolment=enrolment, kind=kind, digest=digest,
                   version=sealed.match_versions.write)
        for kind, digest in sealed.match_keys[sealed.match_versions.write].items()
    ]
    result = _answer_from(enrolment, matches)
    event = event_prepare(
        event_type="enrolment.created",
        actor=Actor.for_platform(platform.id),
        object_ref=f"enrolment:{enrolment.id}",
        platform_id=platform.id,
        occurred_at=now,
        details={
            "epoch": sealed.epoch,
            # What custodians check a release challenge's points against.
            "points": sealed.point_commitments,
            "assurance_level": evidence.assurance_level,
            "matched_existing": len(result.existing_pseudonyms),
        },
    )
    _rows_insert([[enrolment], blind_indexes, [event]])
    enrolment._state.adding = False
    return result


def enrolment_create(
    *, platform: Platform, identity: Identity, evidence: Evidence, idempotency_key: str
) -> EnrolmentResult:
    """Seal a verified identity, derive its pseudonym, and report earlier enrolments of the
    same person on this platform (by blind index), all in one transaction.

    A retry with the same key and body returns the first answer and stores nothing;
    the same key with another body raises IdempotencyKeyReused.
    """
    fingerprint = _fingerprint(platform=platform, identity=identity, evidence=evidence)
    sealed = _identity_seal(platform=platform, identity=identity, evidence=evidence)
    now = timezone.now()
    try:
        return _enrolment_insert(
            platform=platform, identity=identity, sealed=sealed, evidence=evidence,
            idempotency_key=idempotency_key, fingerprint=fingerprint, now=now,
        )
    except IntegrityError:
        # The unique (platform, idempotency_key) constraint: a retry, or a racing twin.
        existing = Enrolment.objects.filter(
            platform=platform, idempotency_key=idempotency_key
        ).first()
        if existing is None:
            raise
        return _replay(existing, fingerprint)


def _replay(existing: Enrolment, fingerprint: bytes) -> EnrolmentResult:
    if not hmac.compare_digest(bytes(existing.request_fingerprint), fingerprint):
        raise IdempotencyKeyReused("this Idempotency-Key was used with a different body")
    # The same answer as the first time: matches made before that enrolment was created.
    matches = list(
        BlindIndex.objects.filter(
            platform_id=existing.platform_id,
            digest__in=BlindIndex.objects.filter(enrolment=existing).values("digest"),
            enrolment__created_at__lt=existing.created_at,
        )
        .values_list("enrolment__pseudonym", "enrolment__status")
        .order_by("enrolment__pseudonym", "enrolment__status")  # as the first answer chose
        .distinct()[:MAX_REPORTED_MATCHES]
    )
    return replace(_answer_from(existing, matches), replayed=True)


def _transition(
    *, platform: Platform, enrolment: Enrolment, from_status: str, to_status: str, event_type: str
) -> Enrolment:
    now = timezone.now()
    with transaction.atomic():
        changes: dict[str, object] = {"status": to_status}
        if to_status == Enrolment.Status.BANNED:
            changes["banned_at"] = now
        elif from_status == Enrolment.Status.BANNED:
            changes["banned_at"] = None
        # Compare-and-swap: two racing calls cannot both move it.
        moved = Enrolment.objects.filter(
            pk=enrolment.pk, platform=platform, status=from_status
        ).update(**changes)
        if moved != 1:
            raise EnrolmentStateConflict(f"the enrolment is not {from_status}")
        event_record(
            event_type=event_type,
            actor=Actor.for_platform(platform.id),
            object_ref=f"enrolment:{enrolment.pk}",
            platform_id=platform.id,
            occurred_at=now,
        )
    enrolment.refresh_from_db()
    return enrolment


def enrolment_ban(*, platform: Platform, enrolment: Enrolment) -> Enrolment:
    return _transition(
        platform=platform,
        enrolment=enrolment,
        from_status=Enrolment.Status.ACTIVE,
        to_status=Enrolment.Status.BANNED,
        event_type="enrolment.banned",
    )


def enrolment_unban(*, platform: Platform, enrolment: Enrolment) -> Enrolment:
    return _transition(
        platform=platform,
        enrolment=enrolment,
        from_status=Enrolment.Status.BANNED,
        to_status=Enrolment.Status.ACTIVE,
        event_type="enrolment.unbanned",
    )


def enrolment_erase(*, platform: Platform, enrolment: Enrolment) -> Enrolment:
    """Crypto-shred: destroy the sealed fields and blind indexes, keep a tombstone."""
    now = timezone.now()
    with transaction.atomic():
        # The lock serialises erasure against a legal hold being placed at the same time.
        locked = Enrolment.objects.select_for_update().get(pk=enrolment.pk, platform=platform)
        if locked.status == Enrolment.Status.ERASED:
            raise EnrolmentStateConflict("the enrolment is already erased")
        if enrolment_legal_hold_active(enrolment=locked):
            raise EnrolmentUnderLegalHold("a legal hold covers this enrolment")
        locked.sealed_fields = None
        locked.status = Enrolment.Status.ERASED
        locked.erased_at = now
        locked.banned_at = None
        locked.save(update_fields=["sealed_fields", "status", "erased_at", "banned_at"])
        BlindIndex.objects.filter(enrolment=locked).delete()
        event_record(
            event_type="enrolment.erased",
            actor=Actor.for_platform(platform.id),
            object_ref=f"enrolment:{locked.pk}",
            platform_id=platform.id,
            occurred_at=now,
        )
        # The platform's confirmation, signed and retried like every webhook: erasure is
        # final, and a platform that lost the API answer learns it happened.
        webhook_event_enqueue(
            platform_id=platform.id, event_type=WebhookEventType.ENROLMENT_ERASED,
            subject_ref=f"enrolment:{locked.pk}",
            data={"pseudonym": locked.pseudonym,
                  "erased_at": now.isoformat().replace("+00:00", "Z")},
        )
    return locked
