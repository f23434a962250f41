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
