"""The fraud engine's JetStream edge against the real NATS server on 127.0.0.1:4222."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid

import pytest
import typer
from typer.testing import CliRunner

from lendguard.cli import fraud_stream_cmd
from lendguard.fraud import stream_nats as sn

URL = "nats://127.0.0.1:4222"


def _reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=1):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _reachable(), reason="no NATS server with JetStream on 127.0.0.1:4222 (.ci/run starts one)"
)


def login(n: int, event_id: str | None = None) -> bytes:
    event = {
        "type": "login",
        "event_id": event_id or f"ev-{uuid.uuid4().hex}",
        "user_id": f"u-{n % 7}",
        "ts": "2026-11-20T10:00:00+08:00",
        "device_id": f"dev-{n % 3}",
        "device_model": "Mate 60",
        "os": "android",
        "client_version": "8.0.50",
        "ip": f"10.0.0.{n % 250}",
    }
    return json.dumps(event).encode()


async def _admin(work):
    nc = await sn.connect(URL)
    try:
        return await work(nc.jetstream())
    finally:
        await nc.close()


@pytest.fixture
def stream():
    """A fresh stream and subject, deleted after the test."""
    tag = uuid.uuid4().hex[:12]
    name, subject = f"TEST_{tag}", f"test.fraud.{tag}"
    sn.ensure_stream(URL, name, subject)
    yield name, subject
    asyncio.run(_admin(lambda js: js.delete_stream(name)))


def consumers(name: str) -> int:
    return asyncio.run(_admin(lambda js: js.stream_info(name))).state.consumer_count


def test_consume_everything_in_order_in_micro_batches(stream):
    name, subject = stream
    lines = [login(i) for i in range(250)]
    assert sn.publish_events(URL, subject, lines, batch=64) == 250
    assert sn.stream_info(URL, name) == sn.StreamInfo(first_sequence=1, last_sequence=250, messages=250)

    batches: list[list[tuple[int, bytes]]] = []
    last = sn.consume(URL, name, subject, 0, batches.append, batch=40, idle_timeout=0.5)

    assert last == 250
    assert all(0 < len(b) <= 40 for b in batches) and len(batches) >= 7
    received = [item for b in batches for item in b]
    assert [seq for seq, _ in received] == list(range(1, 251))
    assert [data for _, data in received] == lines
    assert consumers(name) == 0  # the ephemeral consumer is deleted on the way out


def test_restart_from_an_offset_gets_exactly_the_remainder(stream):
    name, subject = stream
    lines = [login(i) for i in range(120)]
    sn.publish_events(URL, subject, lines)

    first: list[tuple[int, bytes]] = []
    offset = sn.consume(URL, name, subject, 0, first.extend, batch=25, max_messages=50)
    assert offset == 50 and [s for s, _ in first] == list(range(1, 51))

    rest: list[tuple[int, bytes]] = []
    assert sn.consume(URL, name, subject, offset, rest.extend, idle_timeout=0.3) == 120
    assert [s for s, _ in rest] == list(range(51, 121))
    assert [d for _, d in first + rest] == lines


def test_a_crash_in_handle_resumes_from_the_checkpoint_without_loss_or_repeat(stream):
    name, subject = stream
    sn.publish_events(URL, subject, [login(i) for i in range(100)])
    state: list[int] = []
    checkpoint = {"state": [], "offset": 0}  # state and offset saved together, as the engine does

    def handle(batch):
        if batch[-1][0] > 60 and not checkpoint.get("crashed"):
            checkpoint["crashed"] = True
            raise RuntimeError("engine crash")
        state.extend(seq for seq, _ in batch)
        checkpoint.update(state=list(state), offset=batch[-1][0])

    with pytest.raises(RuntimeError, match="engine crash"):
        sn.consume(URL, name, subject, 0, handle, batch=15, idle_timeout=0.3)
    assert checkpoint["offset"] == 60

    state[:] = checkpoint["state"]  # a restarted engine loads its checkpoint
    assert sn.consume(URL, name, subject, checkpoint["offset"], handle, batch=15, idle_timeout=0.3) == 100
    assert state == list(range(1, 101))


def test_a_republished_event_id_is_stored_once(stream):
    name, subject = stream
    ids = [f"ev-dup-{i}-{uuid.uuid4().hex[:6]}" for i in range(5)]
    assert sn.publish_events(URL, subject, [login(i, ids[i]) for i in range(5)]) == 5
    retry = [login(0, ids[0]), login(3, ids[3]), login(9), b"not json at all", b"   "]
    assert sn.publish_events(URL, subject, retry) == 2  # the new event and the unreadable line

    assert sn.stream_info(URL, name).messages == 7
    got: list[tuple[int, bytes]] = []
    sn.consume(URL, name, subject, 0, got.extend, idle_timeout=0.3)
    assert [d for _, d in got][-1] == b"not json at all"
    assert len({json.loads(d)["event_id"] for _, d in got[:-1]}) == 6


def test_events_published_while_consuming_arrive(stream):
    name, subject = stream
    got: list[tuple[int, bytes]] = []
    reader = threading.Thread(target=lambda: sn.consume(URL, name, subject, 0, got.extend, idle_timeout=3))
    reader.start()
    time.sleep(0.3)
    for i in range(3):
        sn.publish_events(URL, subject, [login(10 * i + j) for j in range(10)])
    reader.join(10)
    assert not reader.is_alive()
    assert [s for s, _ in got] == list(range(1, 31))


def test_stop_and_idle_end_consumption(stream):
    name, subject = stream
    stop = threading.Event()
    started = time.monotonic()
    assert sn.consume(URL, name, subject, 0, lambda b: None, idle_timeout=0.3) == 0
    assert time.monotonic() - started < 2

    sn.publish_events(URL, subject, [login(i) for i in range(30)])
    batches = []

    def handle(batch):
        batches.append(batch)
        stop.set()

    assert sn.consume(URL, name, subject, 0, handle, batch=10, stop=stop) == 10
    assert len(batches) == 1


def test_the_async_core_on_a_caller_connection(stream):
    name, subject = stream

    async def run():
        nc = await sn.connect(URL)
        try:
            await sn.apublish_events(nc, subject, [login(i) for i in range(5)])
            got = []
            last = await sn.aconsume(nc, name, subject, 2, got.extend, idle_timeout=0.2)
            return last, [s for s, _ in got]
        finally:
            await nc.close()

    assert asyncio.run(run()) == (5, [3, 4, 5])


def test_clear_errors(stream):
    name, subject = stream
    with pytest.raises(sn.StreamError, match="'NO_SUCH_STREAM' does not exist"):
        sn.consume(URL, "NO_SUCH_STREAM", "no.such.subject", 0, lambda b: None, idle_timeout=0.1)
    with pytest.raises(sn.StreamError, match="does not exist"):
        sn.stream_info(URL, "NO_SUCH_STREAM")
    with pytest.raises(sn.StreamError, match="cannot reach the NATS server at nats://127.0.0.1:1"):
        sn.publish_events("nats://127.0.0.1:1", subject, [login(0)])
    with pytest.raises(sn.StreamError, match="no JetStream stream captures subject"):
        sn.publish_events(URL, f"nobody.{uuid.uuid4().hex}", [login(0)])
    with pytest.raises(sn.StreamError, match="does not capture subject"):
        sn.ensure_stream(URL, name, "another.subject")
    with pytest.raises(sn.StreamError, match="beyond the last sequence 0"):  # a checkpoint from a recreated stream
        sn.consume(URL, name, subject, 5, lambda b: None, idle_timeout=0.1)
    sn.ensure_stream(URL, name, subject)  # existing and matching: nothing to do


def test_the_publish_command(stream, tmp_path):
    name, subject = stream
    app = typer.Typer()
    fraud_stream_cmd.register(app)
    app.command(name="noop", hidden=True)(lambda: None)  # a group of two keeps `publish` a subcommand
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join([login(i, f"ev-cli-{name}-{i}") for i in range(4)]) + b"\n\n")
    options = ["--url", URL, "--subject", subject, "--stream", name]
    runner = CliRunner()

    result = runner.invoke(app, ["publish", str(events), *options])
    assert result.exit_code == 0, result.output
    assert "published 4 events" in result.output and "stored 4" in result.output

    again = runner.invoke(app, ["publish", "-", *options], input=events.read_bytes())
    assert again.exit_code == 0, again.output
    assert "stored 0" in again.output and "duplicates 4" in again.output
    assert sn.stream_info(URL, name).messages == 4

    missing = runner.invoke(app, ["publish", str(tmp_path / "missing.jsonl"), *options])
    assert missing.exit_code == 2
    down = runner.invoke(app, ["publish", str(events), "--url", "nats://127.0.0.1:1", "--subject", subject])
    assert down.exit_code == 2
