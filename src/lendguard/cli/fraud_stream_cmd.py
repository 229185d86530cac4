"""`lendguard fraud publish`: send a JSONL file of events to the fraud engine's JetStream subject.

Producers are separate processes in a deployment; this command is the one for tests,
demos and replays. The options are exported so the engine's own command reads the same
stream with the same names and environment variables.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Annotated, BinaryIO

import typer

from lendguard.cli.common import _fail, console
from lendguard.fraud.stream_nats import (
    DEFAULT_STREAM,
    DEFAULT_SUBJECT,
    DEFAULT_URL,
    StreamError,
    ensure_stream,
    publish_events,
    stream_info,
)

NatsUrl = Annotated[str, typer.Option("--url", help="NATS server (env LENDGUARD_NATS_URL).", envvar="LENDGUARD_NATS_URL")]
Subject = Annotated[str, typer.Option("--subject", help="Subject the events go to (env LENDGUARD_NATS_SUBJECT).", envvar="LENDGUARD_NATS_SUBJECT")]
StreamName = Annotated[str, typer.Option("--stream", help="JetStream stream holding the subject; created if missing (env LENDGUARD_NATS_STREAM).", envvar="LENDGUARD_NATS_STREAM")]


def publish(
    events_file: Annotated[str, typer.Argument(help="Events file (.jsonl), or - for standard input.")],
    url: NatsUrl = DEFAULT_URL,
    subject: Subject = DEFAULT_SUBJECT,
    stream: StreamName = DEFAULT_STREAM,
) -> None:
    """Publish events, one message each; a re-sent event id is stored once (JetStream de-duplication)."""
    sent = 0

    def counted(handle: BinaryIO) -> Iterator[bytes]:
        nonlocal sent
        for line in handle:
            if line.strip():
                sent += 1
                yield line

    try:
        source = nullcontext(sys.stdin.buffer) if events_file == "-" else open(events_file, "rb")
    except OSError as exc:
        raise _fail(f"cannot read {events_file}: {exc.strerror or exc}") from exc
    try:
        with source as handle:
            ensure_stream(url, stream, subject)
            stored = publish_events(url, subject, counted(handle))
        last = stream_info(url, stream).last_sequence
    except StreamError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"published {sent:,} events to {subject} (stream {stream}): stored {stored:,}  duplicates {sent - stored:,}  last sequence {last:,}")


def register(app: typer.Typer) -> None:
    app.command(name="publish")(publish)
