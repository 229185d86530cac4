"""Secrets kept in files (development defaults for the token secret and the master key)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def create_once(path: Path, content: str) -> str:
    """The file's content, writing `content` first if the file does not exist. The file
    appears whole or not at all (written aside, then linked into place), so processes
    starting together all read the same complete secret."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(aside, path)  # fails if another process linked its own first: theirs stands
        except FileExistsError:
            pass
        finally:
            os.unlink(aside)
    return path.read_text()
