"""The fraud engine's JetStream edge: create the stream, publish raw events, replay them after an offset.

Producers are separate processes, so events reach the engine through a NATS JetStream
subject. The engine owns its offset (the stream sequence, checkpointed with its state),
so reading needs no durable consumer on the server: every `consume` creates an
ephemeral, ack-less pull consumer that starts right after the given sequence.
The async functions are the core; the synchronous wrappers run them with `asyncio.run`
because the engine and the CLI are synchronous.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import NamedTuple

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.api import (
    DEFAULT_PREFIX,
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    StorageType,
)

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_STREAM = "LENDGUARD_EVENTS"
DEFAULT_SUBJECT = "lendguard.events"

Batch = list[tuple[int, bytes]]  # (stream sequence, raw event) in sequence order
Handler = Callable[[Batch], None]

_log = logging.getLogger(__name__)
_POLL = 0.25  # seconds between checks of `stop` while the stream is idle


class StreamError(RuntimeError):
    """The JetStream edge failed: what went wrong, and at which server or stream."""


class StreamInfo(NamedTuple):
    first_sequence: int
    last_sequence: int
    messages: int


class _EventId(msgspec.Struct):
    event_id: str | None = None


_event_id = msgspec.json.Decoder(_EventId)


def _msg_id(line: bytes) -> str | None:
    """The event's id, for JetStream's de-duplication of producer retries; None if unreadable."""
    try:
        return _event_id.decode(line).event_id
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None  # published anyway: the validator dead-letters it with a reason


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


async def _quiet(exc: Exception) -> None:
    _log.debug("nats: %r", exc)  # the client's default logs a traceback; we raise StreamError instead


async def connect(url: str, timeout: float = 2.0) -> Client:
    """A connection that fails fast: a lost server ends the run, and the caller resumes
    from its checkpoint, which exactly-once processing needs anyway."""
    try:
        return await nats.connect(
            url, connect_timeout=timeout, allow_reconnect=False, max_reconnect_attempts=1, reconnect_time_wait=0.2, error_cb=_quiet
        )  # the client retries even the first connect; one retry, then a clear error
    except (OSError, asyncio.TimeoutError, nats.errors.Error) as exc:
        raise StreamError(f"cannot reach the NATS server at {url}: {_why(exc)}") from exc


async def astream_info(nc: Client, stream: str) -> StreamInfo:
    try:
        info = await nc.jetstream().stream_info(stream)
    except nats.js.errors.NotFoundError as exc:
        raise StreamError(f"JetStream stream {stream!r} does not exist") from exc
    except nats.js.errors.ServiceUnavailableError as exc:
        raise StreamError("JetStream is not enabled on the NATS server (start it with -js)") from exc
    state = info.state
    return StreamInfo(state.first_seq, state.last_seq, state.messages)


async def aensure_stream(nc: Client, stream: str, subject: str) -> None:
    js = nc.jetstream()
    try:
        info = await js.stream_info(stream)
    except nats.js.errors.NotFoundError:
        try:
            await js.add_stream(name=stream, subjects=[subject], storage=StorageType.FILE)
        except nats.js.errors.BadRequestError as exc:
            raise StreamError(f"cannot create JetStream stream {stream!r} for {subject!r}: {exc.description}") from exc
        return
    if not any(_matches(pattern, subject) for pattern in info.config.subjects or []):
        raise StreamError(f"JetStream stream {stream!r} exists but does not capture subject {subject!r} (it has {info.config.subjects})")


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


async def apublish_events(nc: Client, subject: str, lines: Iterable[bytes], batch: int = 1000, timeout: float = 10.0) -> int:
    """Publish each non-blank line as one message, `batch` acknowledgements in flight at a
    time; returns how many the stream stored (re-published event ids are not counted)."""
    js, stored = nc.jetstream(), 0
    pending: list[asyncio.Future] = []

    async def settle() -> int:
        try:
            acks = await asyncio.wait_for(asyncio.gather(*pending), timeout)
        except nats.js.errors.NoStreamResponseError as exc:
            raise StreamError(f"no JetStream stream captures subject {subject!r}") from exc
        except (asyncio.TimeoutError, nats.errors.Error) as exc:
            raise StreamError(f"publishing to {subject!r} failed: {_why(exc)}") from exc
        pending.clear()
        return sum(not ack.duplicate for ack in acks)

    for line in lines:
        line = line.strip()
        if not line:
            continue
        event_id = _msg_id(line)
        headers = {"Nats-Msg-Id": event_id} if event_id else None
        pending.append(await js.publish_async(subject, line, headers=headers))
        if len(pending) >= batch:
            stored += await settle()
    if pending:
        stored += await settle()
    return stored


async def aconsume(
    nc: Client,
    stream: str,
    subject: str,
    start_after: int,
    handle: Handler,
    batch: int = 1000,
    idle_timeout: float | None = None,
    stop: threading.Event | None = None,
    max_messages: int | None = None,
) -> int:
    """Hand `handle` the messages of `subject` with stream sequence > `start_after`, in order,
    in micro-batches of (sequence, bytes); returns the last sequence handled.

    Ends when idle for `idle_timeout` seconds, when `stop` is set, or after `max_messages`.
    An exception from `handle` propagates: that batch counts as not handled."""
    info = await astream_info(nc, stream)
    if start_after > info.last_sequence:
        raise StreamError(
            f"offset {start_after} is beyond the last sequence {info.last_sequence} of stream {stream!r} (was it recreated?)"
        )
    if info.first_sequence > start_after + 1 and info.last_sequence > start_after:
        raise StreamError(
            f"stream {stream!r} no longer holds the messages after offset {start_after} "
            f"(its first sequence is {info.first_sequence}): they were removed by its limits"
        )
    puller = await _Puller.start(nc, stream, subject, start_after)
    last, seen, idle_since = start_after, 0, time.monotonic()
    try:
        while not (stop is not None and stop.is_set()) and (max_messages is None or seen < max_messages):
            wait = _POLL
            if idle_timeout is not None:
                wait = min(wait, idle_timeout - (time.monotonic() - idle_since))
                if wait <= 0:
                    break
            want = batch if max_messages is None else min(batch, max_messages - seen)
            items = await puller.pull(want, max(wait, 0.01))
            if items:
                handle(items)
                last, seen, idle_since = items[-1][0], seen + len(items), time.monotonic()
    except (nats.errors.Error, asyncio.TimeoutError) as exc:
        why = "lost the connection to the server" if nc.is_closed else _why(exc)
        raise StreamError(f"reading {subject!r} from stream {stream!r} failed after sequence {last}: {why}") from exc
    finally:
        await puller.close()
    return last


class _Puller:
    """An ephemeral, ack-less pull consumer read through its own inbox, one request per
    micro-batch. Each request ends with the batch full or a status message (404/408), so
    no reply of an old request can mix into the next; a callback subscription avoids the
    per-message task that `PullSubscription.fetch` creates (several times faster)."""

    def __init__(self, nc: Client, stream: str, name: str):
        self.nc, self.js, self.stream, self.name = nc, nc.jetstream(), stream, name
        self.next_request = f"{DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{name}"
        self.inbox = nc.new_inbox()
        self.sub = None
        self.expected = 1  # the consumer's sequence: contiguous unless messages were lost in transit
        self.items: Batch = []
        self.want = 0
        self.done: asyncio.Future | None = None

    @classmethod
    async def start(cls, nc: Client, stream: str, subject: str, after: int) -> _Puller:
        puller = cls(nc, stream, f"lendguard-{uuid.uuid4().hex[:12]}")
        config = ConsumerConfig(
            name=puller.name,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after + 1,
            ack_policy=AckPolicy.NONE,
            filter_subject=subject,
            inactive_threshold=60.0,  # the server drops it if we die without deleting it
            mem_storage=True,
            num_replicas=1,
        )
        try:
            await puller.js.add_consumer(stream, config=config)
        except nats.js.errors.NotFoundError as exc:
            raise StreamError(f"JetStream stream {stream!r} does not exist") from exc
        except nats.js.errors.BadRequestError as exc:
            raise StreamError(f"cannot read subject {subject!r} from stream {stream!r}: {exc.description}") from exc
        puller.sub = await nc.subscribe(puller.inbox, cb=puller._receive)
        return puller

    async def pull(self, want: int, wait: float) -> Batch:
        """Up to `want` messages: those available now, else the first to arrive within `wait` s."""
        self.items, self.want = [], want
        self.done = asyncio.get_running_loop().create_future()
        request = {"batch": want, "expires": int(wait * 1e9), "no_wait": True}
        await self.nc.publish(self.next_request, json.dumps(request).encode(), reply=self.inbox)
        await asyncio.wait_for(self.done, wait + 5)  # the server always ends the request; the margin is for a dead one
        return self.items

    async def _receive(self, msg) -> None:
        if self.done is None or self.done.done():
            return
        status = msg.headers.get("Status") if msg.headers else None
        if status == "100":
            return  # heartbeat
        if status is not None:
            if status in ("404", "408"):  # no messages / request expired: the request is over
                self.done.set_result(None)
            else:
                self.done.set_exception(StreamError(f"stream {self.stream!r}: {status} {msg.headers.get('Description', '')}"))
            return
        sequence = msg.metadata.sequence
        if sequence.consumer != self.expected:
            self.done.set_exception(StreamError(f"stream {self.stream!r}: messages lost in transit before sequence {sequence.stream}"))
            return
        self.expected += 1
        self.items.append((sequence.stream, msg.data))
        if len(self.items) >= self.want:
            self.done.set_result(None)

    async def close(self) -> None:
        try:
            if self.sub is not None:
                await self.sub.unsubscribe()
            await self.js.delete_consumer(self.stream, self.name)
        except (nats.errors.Error, asyncio.TimeoutError):
            pass  # best effort: the server drops an inactive ephemeral consumer anyway


# ---- synchronous wrappers -------------------------------------------------------------------
async def _connected(url: str, work):
    """Run `work(connection)` and translate the client's errors into StreamError."""
    nc = await connect(url)
    try:
        return await work(nc)
    except nats.errors.ConnectionClosedError as exc:
        raise StreamError(f"lost the connection to the NATS server at {url}") from exc
    except (nats.errors.TimeoutError, asyncio.TimeoutError) as exc:
        raise StreamError(f"the NATS server at {url} did not answer in time (is JetStream enabled?)") from exc
    except nats.errors.Error as exc:
        raise StreamError(f"JetStream at {url}: {_why(exc)}") from exc
    finally:
        await nc.close()


def ensure_stream(url: str, stream: str, subject: str) -> None:
    """Create `stream` (file storage) capturing `subject` unless it exists."""
    asyncio.run(_connected(url, lambda nc: aensure_stream(nc, stream, subject)))


def stream_info(url: str, stream: str) -> StreamInfo:
    return asyncio.run(_connected(url, lambda nc: astream_info(nc, stream)))


def publish_events(url: str, subject: str, lines: Iterable[bytes], batch: int = 1000) -> int:
    """Publish raw JSON events, one message each; returns how many the stream stored."""
    return asyncio.run(_connected(url, lambda nc: apublish_events(nc, subject, lines, batch)))


def consume(
    url: str,
    stream: str,
    subject: str,
    start_after: int,
    handle: Handler,
    batch: int = 1000,
    idle_timeout: float | None = None,
    stop: threading.Event | None = None,
    max_messages: int | None = None,
) -> int:
    """`aconsume` on its own connection; returns the last sequence handled."""
    return asyncio.run(
        _connected(url, lambda nc: aconsume(nc, stream, subject, start_after, handle, batch, idle_timeout, stop, max_messages))
    )
