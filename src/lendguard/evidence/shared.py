"""One evidence log per process, opened on first use: a server appends and proves through it.

Opening a log (keys, tables, orphan-byte check) costs milliseconds; a request that
stores a decision or proves a record should not pay that each time.
"""

from __future__ import annotations

import threading
from pathlib import Path

from lendguard.evidence.log import EvidenceLog


class SharedLog:
    """A lazily opened EvidenceLog for a data directory, safe to share between threads."""

    def __init__(self, data_dir: Path | str):
        self.data_dir = Path(data_dir)
        self._log: EvidenceLog | None = None
        self._guard = threading.Lock()

    def get(self) -> EvidenceLog:
        with self._guard:
            if self._log is None:
                self._log = EvidenceLog.open(self.data_dir)
            return self._log

    def close(self) -> None:
        with self._guard:
            if self._log is not None:
                self._log.close()
                self._log = None
