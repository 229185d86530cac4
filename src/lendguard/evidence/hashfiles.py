"""The tree's hash files: `level_k.bin` holds the 32-byte hashes of the complete subtrees of 2**k leaves.

Node j of level k sits at byte 32 * j of `level_k.bin`, so any complete subtree is one
`pread`. Files only grow; bytes beyond the committed tree size are orphans of an append that
did not commit and are cut off (`truncate_to`) before the next append.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lendguard.evidence.merkle import HASH_SIZE
from lendguard.evidence.model import LogIntegrityError

_LEVEL_FILE = re.compile(r"^level_(\d+)\.bin$")


class LevelFiles:
    """Append, read and truncate the per-level hash files of one log directory."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._descriptors: dict[int, int] = {}

    def path(self, level: int) -> Path:
        return self.directory / f"level_{level}.bin"

    def _fd(self, level: int) -> int:
        descriptor = self._descriptors.get(level)
        if descriptor is None:
            opened = os.open(self.path(level), os.O_RDWR | os.O_CREAT, 0o644)
            descriptor = self._descriptors.setdefault(level, opened)
            if descriptor != opened:  # another thread opened it meanwhile
                os.close(opened)
        return descriptor

    def levels_on_disk(self) -> list[int]:
        found = [int(m.group(1)) for name in os.listdir(self.directory) if (m := _LEVEL_FILE.match(name))]
        return sorted(found)

    def count(self, level: int) -> int:
        """How many whole hashes level `level` holds on disk."""
        if level not in self._descriptors and not self.path(level).exists():
            return 0
        return os.fstat(self._fd(level)).st_size // HASH_SIZE

    def node(self, level: int, index: int) -> bytes:
        """The hash of complete subtree `index` of level `level` (a `SubtreeHash`)."""
        data = os.pread(self._fd(level), HASH_SIZE, index * HASH_SIZE)
        if len(data) != HASH_SIZE:
            raise LogIntegrityError(f"{self.path(level).name} has no hash at position {index}: the file is shorter than the committed tree")
        return data

    def read_level(self, level: int) -> bytes:
        """The whole level file (for audits)."""
        if not self.path(level).exists():
            return b""
        return self.path(level).read_bytes()

    def write(self, size: int, added: list[bytes]) -> None:
        """Write the nodes each level gains (from `merkle.extend_levels`) after a tree of `size` leaves."""
        for level, data in enumerate(added):
            if data:
                os.pwrite(self._fd(level), data, (size >> level) * HASH_SIZE)

    def sync(self, levels: int) -> None:
        for level in range(levels):
            if level in self._descriptors:
                os.fdatasync(self._descriptors[level])

    def shortfalls(self, size: int) -> dict[int, int]:
        """Levels that hold fewer hashes than a tree of `size` leaves needs: {level: missing}."""
        missing = {}
        level = 0
        while size >> level:
            have = self.count(level)
            need = size >> level
            if have < need:
                missing[level] = need - have
            level += 1
        return missing

    def truncate_to(self, size: int) -> int:
        """Cut every level back to the hashes of a tree of `size` leaves; returns the orphan bytes removed."""
        removed = 0
        for level in self.levels_on_disk():
            keep = (size >> level) * HASH_SIZE
            have = os.fstat(self._fd(level)).st_size
            if have > keep:
                os.ftruncate(self._fd(level), keep)
                os.fsync(self._fd(level))
                removed += have - keep
        return removed

    def replace_all(self, levels: list[bytes]) -> None:
        """Rewrite every level file in place from complete in-memory levels (repair from the index table).

        In place, not by renaming, so other processes that hold the files open see the repair.
        """
        for level in self.levels_on_disk():
            if level >= len(levels):
                os.ftruncate(self._fd(level), 0)
                os.fsync(self._fd(level))
        for level, data in enumerate(levels):
            descriptor = self._fd(level)
            os.pwrite(descriptor, data, 0)
            os.ftruncate(descriptor, len(data))
            os.fsync(descriptor)

    def close(self) -> None:
        for descriptor in self._descriptors.values():
            os.close(descriptor)
        self._descriptors.clear()
