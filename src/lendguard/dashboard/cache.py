"""Keep an expensive result until the files it was computed from change, so a page refresh
is fast and a new evaluation, event batch, loan or model shows up on the next one."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def stamp(paths: Iterable[Path]) -> tuple:
    """What identifies the paths' content cheaply: each file's mtime and size; for a
    directory, its mtime and its subdirectories' (a part file added, rewritten or removed
    changes its folder's mtime); None for a path that does not exist."""
    found: list[tuple] = []
    for path in paths:
        try:
            info = path.stat()
        except FileNotFoundError:
            found.append((str(path), None))
            continue
        if path.is_dir():
            found.append((str(path), info.st_mtime_ns))
            found += sorted((str(child), child.stat().st_mtime_ns) for child in path.iterdir() if child.is_dir())
        else:
            found.append((str(path), info.st_mtime_ns, info.st_size))
    return tuple(found)


class FileCache:
    """Named results, each valid while `stamp(paths)` and its extra key are unchanged. One
    lock per name: concurrent page loads compute a result once, not once each."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Hashable, Any]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, name: str, paths: Iterable[Path], compute: Callable[[], T], extra: Hashable = ()) -> T:
        key = (stamp(paths), extra)  # taken before computing: a change meanwhile is seen next time
        entry = self._entries.get(name)
        if entry is not None and entry[0] == key:
            return entry[1]
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            entry = self._entries.get(name)
            if entry is not None and entry[0] == key:
                return entry[1]
            value = compute()
            self._entries[name] = (key, value)
            return value
