"""The log as a file auditors can verify offline, and the sources `audit_verify` reads.

An export is a tar archive in the C2SP tlog-tiles layout, so that serving the
unpacked folder over any static HTTP server gives a log an off-the-shelf tlog client
can check:

    checkpoint                  the latest signed checkpoint (with cosignatures)
    verifier-key                the log's verifier key (check it against a trusted copy)
    tile/<L>/<N>[.p/<W>]        every hash tile of that tree size
    tile/entries/<N>[.p/<W>]    every entry bundle
    checkpoints.jsonl           every earlier signed checkpoint, one JSON object a line
    export.json                 format, origin and tree size

Every byte that matters is authenticated by the signed checkpoints: the entries and
tiles through the Merkle root, the checkpoints by the log's signature.
"""

from __future__ import annotations

import contextlib
import io
import json
import queue
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from escrow.crypto.tiles import (
    TILE_WIDTH,
    TilePathError,
    TileRef,
    entry_bundle_decode,
    entry_bundle_encode,
    tile_path_parse,
    tiles_for_size,
)
from escrow.log.keys import log_identity
from escrow.log.leaf import CopiedColumns
from escrow.log.models import AuditEvent, LogCheckpoint, LogEntry, LogTile
from escrow.log.selectors import log_checkpoint_served, log_tiles_read

EXPORT_FORMAT = "identity-escrow-log-export/v1"
_FETCH = 20_000


class ExportInvalid(Exception):
    """The file is not a log export."""


class DatabaseSource:
    """The log as stored, read in one consistent snapshot (see `database_snapshot`)."""

    def entries(self) -> Iterator[tuple[int, bytes]]:
        entry_table = connection.ops.quote_name(LogEntry._meta.db_table)
        event_table = connection.ops.quote_name(AuditEvent._meta.db_table)
        index = connection.ops.quote_name("index")
        query = (
            f"SELECT l.{index}, e.entry FROM {entry_table} l "  # noqa: S608  # nosec B608
            f"JOIN {event_table} e ON e.id = l.event_id ORDER BY l.{index}"
        )
        if connection.vendor == "postgresql":
            yield from _entries_prefetched(query)
            return
        with connection.chunked_cursor() as cursor:
            cursor.execute(query)
            while rows := cursor.fetchmany(_FETCH):
                for position, entry in rows:
                    yield position, bytes(entry)

    def entries_with_columns(self) -> Iterator[tuple[int, bytes, CopiedColumns | None]]:
        """Each entry with its event row's copies of the entry's fields, for the verifier
        to compare (nothing else checks those copies). None: PostgreSQL found the entry
        starting and ending with exactly the text the copies make, which is only so if
        they agree; any other row comes with its copies, for the exact comparison."""
        entry_table = connection.ops.quote_name(LogEntry._meta.db_table)
        event_table = connection.ops.quote_name(AuditEvent._meta.db_table)
        index = connection.ops.quote_name("index")
        if connection.vendor != "postgresql":
            query = (
                f"SELECT l.{index}, e.entry, e.event_type, e.occurred_at, e.actor_kind, "  # noqa: S608  # nosec B608
                f"e.actor_ref, e.actor_role, e.object_ref, e.commitment FROM {entry_table} l "
                f"JOIN {event_table} e ON e.id = l.event_id ORDER BY l.{index}"
            )
            for position, entry, *copies in _rows_chunked(query):
                yield position, bytes(entry), _copied_columns(*copies)
            return
        # The leaf's text around `details`, rebuilt from the copies by the database, so
        # the common case costs the verifier no extra bytes and no parsing
        # (escrow/log/leaf.py does the same in Python, exactly, for any row that differs).
        query = (
            f"SELECT l.{index}, e.entry, "  # noqa: S608  # nosec B608
            "(octet_length(e.entry) >= octet_length(x.head) + octet_length(x.tail) "
            "AND substring(e.entry from 1 for octet_length(x.head)) = x.head "
            "AND substring(e.entry from octet_length(e.entry) - octet_length(x.tail) + 1) "
            "= x.tail) "
            f"FROM {entry_table} l JOIN {event_table} e ON e.id = l.event_id "
            "CROSS JOIN LATERAL (SELECT "
            "convert_to('{\"actor\":{\"kind\":' || to_json(e.actor_kind)::text "
            "|| ',\"ref\":' || to_json(e.actor_ref)::text "
            "|| ',\"role\":' || to_json(e.actor_role)::text || '},\"details\":{', 'UTF8') "
            "AS head, "
            "convert_to('},\"object\":' || to_json(e.object_ref)::text "
            "|| ',\"sealed\":' || coalesce('\"' || encode(e.commitment, 'hex') || '\"', 'null') "
            "|| ',\"time\":\"' || to_char(e.occurred_at AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
            "|| '\",\"type\":' || to_json(e.event_type)::text || ',\"v\":1}', 'UTF8') "
            f"AS tail) x ORDER BY l.{index}"
        )
        for position, entry, agree in _entries_prefetched(query):
            yield position, bytes(entry), None if agree else _copied_columns_at(position)

    def tiles(self) -> Iterator[tuple[int, int, int, bytes]]:
        rows = (
            LogTile.objects.order_by("level", "index", "width")
            .values_list("level", "index", "width", "hashes")
            .iterator(chunk_size=2000)
        )
        for level, index, width, hashes in rows:
            yield level, index, width, bytes(hashes)

    def checkpoints(self) -> list[tuple[int, str]]:
        return list(LogCheckpoint.objects.order_by("tree_size").values_list("tree_size", "note"))


def _copied_columns(
    event_type: str, occurred_at: Any, kind: str, ref: str, role: str, obj: str,
    commitment: Any,
) -> CopiedColumns:
    if isinstance(occurred_at, str):  # SQLite hands back text
        occurred_at = parse_datetime(occurred_at)
    return CopiedColumns(
        event_type=event_type, occurred_at=occurred_at, actor_kind=kind, actor_ref=ref,
        actor_role=role, object_ref=obj,
        commitment=bytes(commitment) if commitment is not None else None,
    )


def _copied_columns_at(index: int) -> CopiedColumns:
    copies = AuditEvent.objects.filter(log_entry__index=index).values_list(
        "event_type", "occurred_at", "actor_kind", "actor_ref", "actor_role", "object_ref",
        "commitment",
    ).get()
    return _copied_columns(*copies)


def _rows_chunked(query: str) -> Iterator[tuple[Any, ...]]:
    with connection.chunked_cursor() as cursor:
        cursor.execute(query)
        while rows := cursor.fetchmany(_FETCH):
            yield from rows


def _entries_prefetched(query: str) -> Iterator[Any]:
    """Rows of `query` from a binary server-side cursor, fetched by a helper thread.

    Binary format: entries arrive as raw bytes, not hex text. The thread waits on the
    database while the caller hashes the previous chunk (the wait releases the GIL).
    The caller's connection is used, inside the caller's transaction (snapshot).
    """
    connection.ensure_connection()
    raw = connection.connection
    chunks: queue.Queue[list[tuple[int, bytes]] | BaseException | None] = queue.Queue(4)
    stop = threading.Event()

    def produce() -> None:
        try:
            with raw.cursor(name="audit_log_entries", binary=True) as cursor:
                cursor.execute(query)
                while not stop.is_set() and (rows := cursor.fetchmany(_FETCH)):
                    chunks.put(rows)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            chunks.put(exc)
        else:
            chunks.put(None)

    producer = threading.Thread(target=produce, name="audit-verify-fetch", daemon=True)
    producer.start()
    try:
        while (item := chunks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield from item
    finally:
        stop.set()
        while producer.is_alive():
            with contextlib.suppress(queue.Empty):
                chunks.get(timeout=0.1)
        producer.join()


def database_snapshot() -> transaction.Atomic:
    """A transaction in which every read sees the same state of the log.

    On PostgreSQL the caller must run `snapshot_begin()` first thing inside it.
    """
    return transaction.atomic()


def snapshot_begin() -> None:
    # Only the outermost transaction can choose its isolation level; nested in a
    # caller's transaction, reads already share the caller's transaction.
    if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


class ExportSource:
    """A log export file, read into memory by member (entries stream bundle by bundle)."""

    def __init__(self, path: Path) -> None:
        try:
            self._tar = tarfile.open(path, mode="r:*")  # noqa: SIM115
        except (OSError, tarfile.TarError) as exc:
            raise ExportInvalid(f"cannot read {path}: {exc}") from None
        self._bundles: list[tuple[TileRef, tarfile.TarInfo]] = []
        self._tiles: list[tuple[TileRef, tarfile.TarInfo]] = []
        self.meta: dict[str, object] = {}
        self.checkpoint = ""
        self.verifier_key = ""
        self._history: list[tuple[int, str]] = []
        for member in self._tar.getmembers():
            if not member.isfile():
                continue
            if member.name.startswith("tile/"):
                try:
                    tile = tile_path_parse(member.name)
                except TilePathError:
                    raise ExportInvalid(f"unexpected member {member.name!r}") from None
                (self._bundles if tile.entries else self._tiles).append((tile, member))
            elif member.name == "export.json":
                self.meta = json.loads(self._read(member))
            elif member.name == "checkpoint":
                self.checkpoint = self._read(member).decode("utf-8")
            elif member.name == "verifier-key":
                self.verifier_key = self._read(member).decode("utf-8").strip()
            elif member.name == "checkpoints.jsonl":
                for line in self._read(member).decode("utf-8").splitlines():
                    record = json.loads(line)
                    self._history.append((int(record["tree_size"]), str(record["note"])))
        if self.meta.get("format") != EXPORT_FORMAT:
            raise ExportInvalid("not a log export (export.json missing or of another format)")
        self._bundles.sort(key=lambda item: item[0].index)

    def _read(self, member: tarfile.TarInfo) -> bytes:
        handle = self._tar.extractfile(member)
        if handle is None:
            raise ExportInvalid(f"cannot read {member.name}")
        return handle.read()

    def entries(self) -> Iterator[tuple[int, bytes]]:
        expected = 0
        for tile, member in self._bundles:
            if tile.index * TILE_WIDTH != expected:
                return  # a missing bundle: the verifier reports the gap
            entries = entry_bundle_decode(self._read(member))
            for offset, entry in enumerate(entries):
                yield expected + offset, entry
            expected += len(entries)
            if len(entries) != tile.width:
                return

    def tiles(self) -> Iterator[tuple[int, int, int, bytes]]:
        for tile, member in self._tiles:
            yield tile.level, tile.index, tile.width, self._read(member)

    def checkpoints(self) -> list[tuple[int, str]]:
        return self._history


class _Chunks(io.RawIOBase):
    """A write-only sink whose bytes the export generator hands out as it goes."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        chunk = bytes(data)  # type: ignore[call-overload]
        self.parts.append(chunk)
        return len(chunk)

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def _member(archive: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def _bundles(size: int) -> Iterator[tuple[TileRef, bytes]]:
    chunk: list[bytes] = []
    index = 0
    for position, entry in DatabaseSource().entries():
        if position >= size:
            break
        chunk.append(entry)
        if len(chunk) == TILE_WIDTH:
            yield TileRef(level=0, index=index, entries=True), entry_bundle_encode(chunk)
            chunk, index = [], index + 1
    if chunk:
        tile = TileRef(level=0, index=index, width=len(chunk), entries=True)
        yield tile, entry_bundle_encode(chunk)


def log_export_check(*, tree_size: int | None = None) -> None:
    """Raise `ExportInvalid` unless there is a signed checkpoint to export (of that size)."""
    checkpoints = LogCheckpoint.objects.all()
    if tree_size is not None:
        checkpoints = checkpoints.filter(tree_size=tree_size)
    if not checkpoints.exists():
        raise ExportInvalid(f"no signed checkpoint for tree size {tree_size}")


def log_export_stream(*, tree_size: int | None = None) -> Iterator[bytes]:
    """The export of the latest signed tree (or of an earlier signed `tree_size`), as
    tar bytes produced member by member, so a large log streams in bounded memory."""
    with database_snapshot():
        snapshot_begin()
        checkpoints = LogCheckpoint.objects.order_by("tree_size")
        if tree_size is not None:
            checkpoints = checkpoints.filter(tree_size__lte=tree_size)
        history = list(checkpoints)
        if not history or (tree_size is not None and history[-1].tree_size != tree_size):
            raise ExportInvalid(f"no signed checkpoint for tree size {tree_size}")
        latest = history[-1]
        size = latest.tree_size
        identity = log_identity()
        now = time.time()
        sink = _Chunks()
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as archive:
            meta = {"format": EXPORT_FORMAT, "origin": identity.origin, "tree_size": size}
            _member(archive, "export.json", json.dumps(meta).encode(), now)
            _member(archive, "checkpoint", log_checkpoint_served(latest).encode(), now)
            _member(archive, "verifier-key", (identity.verifier_key + "\n").encode(), now)
            lines = "".join(
                json.dumps({"tree_size": c.tree_size, "note": c.note}) + "\n" for c in history
            )
            _member(archive, "checkpoints.jsonl", lines.encode(), now)
            yield sink.take()
            refs = list(tiles_for_size(size=size))
            for start in range(0, len(refs), 200):
                group = refs[start : start + 200]
                for tile, data in zip(group, log_tiles_read(group), strict=True):
                    _member(archive, tile.path, data, now)
                yield sink.take()
            for tile, bundle in _bundles(size):
                _member(archive, tile.path, bundle, now)
                yield sink.take()
        yield sink.take()


def log_export_write(*, path: Path, tree_size: int | None = None) -> None:
    with path.open("wb") as handle:
        for chunk in log_export_stream(tree_size=tree_size):
            handle.write(chunk)

