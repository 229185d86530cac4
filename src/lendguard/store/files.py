"""Whole-or-absent file writes: write a private temporary file, fsync it, rename it into place."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data`; a reader sees the old file or the new one, never a part.

    The temporary name carries the process id, so two writers never share one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
