"""The engine on a NATS JetStream subject: consume from the checkpoint's sequence, in order.

The stream's sequence numbers are the offsets: the runner resumes after the last one
its checkpoint saved, so a restarted consumer applies every message exactly once.
"""

from __future__ import annotations

from lendguard.fraud.runner import FraudRunner, RunReport
from lendguard.fraud.stream_nats import StreamError, consume

__all__ = ["StreamError", "consume_into"]


def consume_into(
    runner: FraudRunner,
    url: str,
    stream: str,
    subject: str,
    idle_timeout: float | None = 5.0,
    max_messages: int | None = None,
    batch: int = 1000,
) -> RunReport:
    """Feed the stream's messages after the checkpoint's offset to `runner`; one report for all."""
    source = f"nats:{stream}"
    start_after = runner.offset if runner.source == source else 0
    total = RunReport()

    def handle(messages: list[tuple[int, bytes]]) -> None:
        part = runner.feed(messages, source)
        for name in ("received", "applied", "skipped", "rejected", "signals", "checkpoints"):
            setattr(total, name, getattr(total, name) + getattr(part, name))
        total.transitions += part.transitions
        total.latencies_ms += part.latencies_ms
        total.seconds += part.seconds
        total.withheld = part.withheld

    consume(url, stream, subject, start_after, handle, batch=batch, idle_timeout=idle_timeout, max_messages=max_messages)
    return total
