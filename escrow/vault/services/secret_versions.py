"""Versioned blind-index secrets: which versions are live, and the resumable rotation.

Version 1 is the original secret. A rotation to version n re-keys every stored index in
batches (``blind_index_rekey``: the service never holds identities in the clear, so it
wraps the old index instead of recomputing it). While it runs, both versions are live and
matching checks both; when every row has moved, the old version is retired and refused.
Progress is kept in the database, so an interrupted rotation resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from escrow.crypto.blind_index import blind_index_rekey, identity_match_keys
from escrow.keys import SecretVersionUnknown, platform_key, secret_versions
from escrow.log.events import Actor, event_record
from escrow.vault.models import BlindIndex, BlindIndexRotation

PURPOSE = "blind-index"


class SecretVersionRetired(Exception):
    """A blind-index secret version that a finished rotation retired."""


class RotationRejected(Exception):
    """A rotation that cannot start: not newer, not configured, or another one unfinished."""


@dataclass(frozen=True)
class BlindIndexVersions:
    """The state of the blind-index secret: every version in order, and which are live."""

    chain: tuple[int, ...]
    live: tuple[int, ...]
    # The version new enrolments store their indexes under.
    write: int
    rotation: BlindIndexRotation | None

    def require_live(self, version: int) -> None:
        if version in self.live:
            return
        if version in self.chain:
            raise SecretVersionRetired(
                f"blind-index secret version {version} is retired (live: {list(self.live)})"
            )
        raise SecretVersionUnknown(f"blind-index secret version {version} was never used")


# (to_version, from_version, finished) of each rotation, in order of to_version.
RotationStep = tuple[int, int, bool]


def _versions_of(steps: Sequence[RotationStep]) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """The chain, the live versions and the write version after these rotations."""
    chain = (1, *(to_version for to_version, _, _ in steps))
    if steps and not steps[-1][2]:
        to_version, from_version, _ = steps[-1]
        return chain, (from_version, to_version), to_version
    return chain, (chain[-1],), chain[-1]


def blind_index_versions() -> BlindIndexVersions:
    global _remembered
    rotations = list(BlindIndexRotation.objects.order_by("to_version"))
    chain, live, write = _versions_of(
        [(r.to_version, r.from_version, r.finished_at is not None) for r in rotations]
    )
    last = rotations[-1] if rotations else None
    _remembered = BlindIndexVersions(
        chain=chain, live=live, write=write,
        rotation=last if last is not None and last.finished_at is None else None,
    )
    return _remembered


# The versions this process read last. An enrolment derives its indexes under them before
# it reads anything, and the statement that looks for earlier matches reads the rotation
# steps too (ROTATION_STEPS_SQL): only if they changed are the indexes derived again.
_remembered: BlindIndexVersions | None = None


def blind_index_versions_remembered() -> BlindIndexVersions:
    """The versions as this process last read them (read now if never): a guess that the
    caller must confirm with `blind_index_versions_confirmed` in the statement it relies on."""
    guess = _remembered
    # A guess naming a version no longer configured is no guess (tests change settings).
    if guess is None or not set(guess.chain) <= secret_versions().keys():
        return blind_index_versions()
    return guess


def blind_index_versions_confirmed(
    guess: BlindIndexVersions, steps: Sequence[RotationStep]
) -> BlindIndexVersions | None:
    """`guess` if the rotation steps read in the caller's statement give the same chain,
    live versions and write version; else None, and the versions are read again."""
    if _versions_of(steps) == (guess.chain, guess.live, guess.write):
        return guess
    blind_index_versions()
    return None


def rotation_steps() -> list[RotationStep]:
    """The rotation steps, read through the ORM: where `rotation_steps_sql` cannot run
    (it is PostgreSQL's JSON), for a caller that reads them in a statement of their own."""
    return [
        (to_version, from_version, finished_at is not None)
        for to_version, from_version, finished_at in BlindIndexRotation.objects.order_by(
            "to_version").values_list("to_version", "from_version", "finished_at")
    ]


def rotation_steps_sql() -> str:
    """A scalar subquery giving the rotation steps as a JSON array of
    [to_version, from_version, finished] (read with the rest of the caller's statement);
    PostgreSQL only."""
    table = BlindIndexRotation._meta.db_table
    return (
        "(SELECT coalesce(json_agg(json_build_array(to_version, from_version, "  # noqa: S608  # nosec B608
        f"finished_at IS NOT NULL) ORDER BY to_version), '[]'::json) FROM {table})"
    )


def identity_match_keys_versioned(
    *, platform_id: str, identity: Mapping[str, str | date | None], versions: BlindIndexVersions
) -> dict[int, dict[str, bytes]]:
    """Kind -> index of this identity under every live version (the chain from version 1)."""
    digests = identity_match_keys(
        key=platform_key(platform_id=platform_id, purpose=PURPOSE), identity=identity
    )
    out: dict[int, dict[str, bytes]] = {}
    for version in versions.chain:
        if version != 1:
            key = platform_key(platform_id=platform_id, purpose=PURPOSE, version=version)
            digests = {kind: blind_index_rekey(key=key, digest=d) for kind, d in digests.items()}
        if version in versions.live:
            out[version] = digests
    return out


def blind_index_rotation_start(*, to_version: int, actor: Actor) -> BlindIndexRotation:
    """Start a rotation to `to_version`, or return the unfinished one to resume it."""
    versions = blind_index_versions()
    if versions.rotation is not None:
        if versions.rotation.to_version == to_version:
            return versions.rotation
        raise RotationRejected(
            f"the rotation to version {versions.rotation.to_version} is unfinished; resume it"
        )
    if to_version <= versions.write:
        raise RotationRejected(
            f"version {to_version} is not newer than the current version {versions.write}"
        )
    try:
        platform_key(platform_id="configuration-check", purpose=PURPOSE, version=to_version)
    except SecretVersionUnknown as exc:
        raise RotationRejected(str(exc)) from exc
    now = timezone.now()
    try:
        with transaction.atomic():
            rotation = BlindIndexRotation.objects.create(
                to_version=to_version, from_version=versions.write, started_at=now,
                rows_total=BlindIndex.objects.filter(version=versions.write).count(),
            )
            event_record(
                event_type="blind_index.rotation_started", actor=actor,
                object_ref=f"blind_index_secret:{to_version}", occurred_at=now,
                details={"from_version": rotation.from_version, "to_version": to_version,
                         "rows": rotation.rows_total},
            )
    except IntegrityError as exc:
        raise RotationRejected("another rotation started at the same time") from exc
    return rotation


def blind_index_rotation_batch(*, rotation: BlindIndexRotation, batch_size: int) -> int:
    """Re-key the next `batch_size` indexes still under the old version; one transaction.

    Only rows still under the old version are read and each moves in the same statement
    that changes its version, so a row is re-keyed exactly once however often this runs.
    """
    to_version = rotation.to_version
    # A runner still holding a rotation that another one finished must not move anything.
    blind_index_versions().require_live(rotation.from_version)
    with transaction.atomic():
        rows = list(
            BlindIndex.objects.select_for_update()
            .filter(version=rotation.from_version)
            .order_by("id")
            .only("id", "platform_id", "digest")[:batch_size]
        )
        for row in rows:
            key = platform_key(platform_id=str(row.platform_id), purpose=PURPOSE,
                               version=to_version)
            row.digest = blind_index_rekey(key=key, digest=bytes(row.digest))
            row.version = to_version
        _rows_rekeyed_store(rows, to_version)
        BlindIndexRotation.objects.filter(pk=to_version).update(
            rows_done=F("rows_done") + len(rows)
        )
    rotation.rows_done += len(rows)
    return len(rows)


def _rows_rekeyed_store(rows: list[BlindIndex], to_version: int) -> None:
    if not rows:
        return
    if connection.vendor != "postgresql":
        BlindIndex.objects.bulk_update(rows, ["digest", "version"])
        return
    # One UPDATE joined to a VALUES list: bulk_update's CASE over a thousand ids made the
    # rotation some forty times slower than reading the same rows.
    table = BlindIndex._meta.db_table
    values = ", ".join(["(%s::bigint, %s::bytea)"] * len(rows))
    params: list[int | bytes] = [to_version]
    for row in rows:
        params += [row.id, bytes(row.digest)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS b SET digest = v.digest, version = %s "  # noqa: S608  # nosec B608
            f"FROM (VALUES {values}) AS v(id, digest) WHERE b.id = v.id",
            params,
        )


def blind_index_rotation_finish(*, rotation: BlindIndexRotation, actor: Actor) -> bool:
    """Retire the old version once no index is left under it; False if some still are."""
    now = timezone.now()
    with transaction.atomic():
        locked = BlindIndexRotation.objects.select_for_update().get(pk=rotation.to_version)
        if locked.finished_at is not None:
            return True
        if BlindIndex.objects.filter(version=locked.from_version).exists():
            return False
        locked.finished_at = now
        locked.save(update_fields=["finished_at"])
        event_record(
            event_type="blind_index.rotation_finished", actor=actor,
            object_ref=f"blind_index_secret:{locked.to_version}", occurred_at=now,
            details={"from_version": locked.from_version, "to_version": locked.to_version,
                     "rows": locked.rows_done, "retired_version": locked.from_version},
        )
    rotation.finished_at = now
    return True
