"""Files the custodian tool writes: readable by their owner only, replaced in one rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from escrow.custodian.errors import fail


def private_file_write(path: Path, data: bytes) -> None:
    """Write `data` readable by its owner only, replacing `path` in one rename, so an
    interrupted run leaves the old file whole."""
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".escrow-")
    except OSError as exc:
        fail(f"cannot write {path.name}: {exc.strerror}")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        fail(f"cannot write {path.name}: {exc.strerror}")
