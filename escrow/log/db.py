"""Database expressions the log needs before its models exist (imported by escrow.models)."""

from __future__ import annotations

from typing import Any

from django.db import models


class CurrentTransactionId(models.Func):
    """The inserting transaction's id on PostgreSQL (`pg_current_xact_id()`), else NULL.

    The sequencer orders events by (transaction id, event id) and only takes those
    of transactions older than every transaction still running, so an event whose
    transaction commits late is never skipped. SQLite serialises writers, so there
    event ids already commit in order and the column stays NULL.
    """

    output_field = models.BigIntegerField()

    def as_sql(self, compiler: Any, connection: Any, *args: Any, **extra: Any) -> Any:
        return "NULL", []

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, list[Any]]:
        # xid8 has no cast to bigint; its text form is the 64-bit epoch-extended id.
        return "(pg_current_xact_id()::text::bigint)", []


class EntryContains(models.Func):
    """1 if the event's `entry` bytes contain `needle`, else 0.

    A prefilter on the hashed leaf itself, never on a copied column: a leaf whose
    field has some value contains that field's canonical JSON text, so filtering on
    it can only let through too much (the caller re-checks each parsed leaf), never
    lose a row whose copied column was rewritten.
    """

    output_field = models.IntegerField()

    def __init__(self, needle: bytes, *, entry: str = "entry") -> None:
        super().__init__(models.F(entry), models.Value(needle, output_field=models.BinaryField()))

    def _operands(self, compiler: Any) -> tuple[str, str, list[Any]]:
        entry, entry_params = compiler.compile(self.source_expressions[0])
        needle, needle_params = compiler.compile(self.source_expressions[1])
        return entry, needle, [*needle_params, *entry_params]

    def as_sql(self, compiler: Any, connection: Any, *args: Any, **extra: Any) -> Any:
        entry, needle, params = self._operands(compiler)
        return f"(CASE WHEN instr({entry}, {needle}) > 0 THEN 1 ELSE 0 END)", params

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, list[Any]]:
        entry, needle, params = self._operands(compiler)
        return f"(CASE WHEN position({needle} in {entry}) > 0 THEN 1 ELSE 0 END)", params
