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

from django.db import connection, transaction

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
            f"SELECT l.{index}, e.entry FROM {entry_table} l "  # noqa: S608
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


def _entries_prefetched(query: str) -> Iterator[tuple[int, bytes]]:
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

