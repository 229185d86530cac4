"""Real `lendguard serve` processes for the end-to-end tests: started on a free port, waited
for until they answer, their JSON logs written to a file (a pipe nobody reads would fill
and stall the server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import httpx

START_SECONDS = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(
    data: Path, log: Path, env: Mapping[str, str] | None = None, *, args: Iterable[str] = (), clear: Iterable[str] = ()
) -> tuple[subprocess.Popen, str]:
    """`lendguard serve -d data` with this process's environment less `clear`, plus `env`:
    the process and its base URL, once /v1/health answers. A server that exits or does not
    answer in time fails the test with its log's tail."""
    port = free_port()
    cleared = set(clear)
    environment = {k: v for k, v in os.environ.items() if k not in cleared} | dict(env or {})
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "lendguard.cli.main", "serve", "--port", str(port), "-d", str(data), *args],
            stdout=subprocess.DEVNULL, stderr=sink, env=environment,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + START_SECONDS
    while time.time() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    process.wait()
    raise AssertionError(f"`lendguard serve` did not start (exit {process.returncode}):\n{log.read_text(encoding='utf-8', errors='replace')[-5000:]}")


def stop_serve(process: subprocess.Popen, timeout: float = 30) -> None:
    process.terminate()
    process.wait(timeout=timeout)
