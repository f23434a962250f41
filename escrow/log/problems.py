"""The audit log's domain exceptions and their RFC 9457 problem types."""

from __future__ import annotations

from escrow.api.problems import problem_register
from escrow.log.export import ExportInvalid
from escrow.log.selectors import LogEventNotFound, LogEventNotSequenced, LogTreeSizeInvalid
from escrow.log.services import (
    CosignatureRejected,
    CosignedCheckpointUnknown,
    LogUnavailable,
    NoSealedDetail,
    SealedDetailUnverifiable,
)


def register() -> None:
    problem_register(LogEventNotFound, status=404, code="not_found", title="Not found")
    problem_register(LogEventNotSequenced, status=409, code="not_sequenced",
                     title="The event is not yet under a signed checkpoint; retry shortly")
    problem_register(LogTreeSizeInvalid, status=400, code="invalid_tree_size",
                     title="No signed tree of that size, or sizes in the wrong order")
    problem_register(ExportInvalid, status=404, code="no_checkpoint",
                     title="No signed checkpoint of that size to export")
    problem_register(NoSealedDetail, status=404, code="no_sealed_detail",
                     title="The event has no sealed detail")
    problem_register(SealedDetailUnverifiable, status=409, code="sealed_detail_mismatch",
                     title="The sealed detail does not match the logged commitment")
    problem_register(LogUnavailable, status=503, code="log_unavailable",
                     title="The audit log cannot vouch for the event; nothing was done")
    problem_register(CosignatureRejected, status=422, code="cosignature_rejected",
                     title="Not a checkpoint of this log cosigned by a configured witness")
    problem_register(CosignedCheckpointUnknown, status=404, code="checkpoint_unknown",
                     title="This log signed no such checkpoint")
