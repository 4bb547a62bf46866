"""What every buffer offers the exporter helper, and the per-exporter buffer metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from edgetel.pdata import Batch
from edgetel.telemetry.selfmetrics import Child, Family, Registry


@dataclass(slots=True, eq=False)
class Entry:
    """One batch handed to a sender; give it back with `ack` (done with it) or `release` (not sent)."""

    batch: Batch
    id: int
    time_ms: int
    token: object = field(default=None, repr=False)  # the buffer's own bookkeeping
    size: int = 0  # serialized bytes (disk buffer)


class Buffer(Protocol):
    kind: str
    # True: on shutdown the exporter keeps sending until the buffer is empty (memory: the data would be lost).
    # False: what is not sent stays on disk for the next start.
    drain_on_close: bool

    async def open(self) -> None: ...

    async def push(self, batch: Batch) -> None:
        """Store the batch, or raise QueueFullError (full, disk full) / PermanentError (too large)."""

    async def get(self) -> Entry | None:
        """The oldest batch not yet handed out; waits for one. None once the buffer is closed (and drained)."""

    def ack(self, entry: Entry) -> None:
        """The entry was delivered or given up on for good: it is never handed out again."""

    def release(self, entry: Entry) -> None:
        """The entry was not sent (shutdown): hand it out again first."""

    def close_reading(self) -> None:
        """`get` returns None once nothing is left (memory) or at once (disk)."""

    def records(self) -> int: ...

    def size_bytes(self) -> int: ...

    def oldest_age(self) -> float:
        """Seconds since the oldest record not yet acknowledged was stored (0 when empty)."""

    async def close(self) -> list[Entry]:
        """Release files and tasks. Returns the entries that are lost with the buffer (memory only)."""


class BufferMetrics:
    """`edgetel_buffer_*{exporter}`: bytes, records, oldest age (read at scrape time), drops by reason."""

    def __init__(self, registry: Registry, exporter: str) -> None:
        self._registry = registry
        self.exporter = exporter
        self._gauges: list[tuple[Family, Callable[[], float]]] = []
        self._dropped = registry.counter(
            "edgetel_buffer_dropped_records_total",
            "records (batches) the exporter's buffer dropped or refused, by reason",
            ("exporter", "reason"),
        )
        self._dropped_children: dict[str, Child] = {}
        self._corrupt = registry.counter(
            "edgetel_buffer_corrupt_records_total",
            "records found corrupt or torn in the exporter's disk buffer and skipped",
            ("exporter",),
        ).labels(exporter)

    def watch(self, buffer: Buffer) -> None:
        """Publish the buffer's gauges until `unwatch`."""
        self.unwatch()
        for name, help_text, fn in (
            ("edgetel_buffer_bytes", "bytes held by the exporter's buffer (disk: segment files)", buffer.size_bytes),
            ("edgetel_buffer_records", "records (batches) in the exporter's buffer not yet acknowledged",
             buffer.records),
            ("edgetel_buffer_oldest_record_age_seconds", "age of the oldest record not yet acknowledged",
             buffer.oldest_age),
        ):  # fmt: skip
            fam = self._registry.gauge(name, help_text, ("exporter",))
            fam.set_function((self.exporter,), fn)
            self._gauges.append((fam, fn))

    def unwatch(self) -> None:
        for fam, fn in self._gauges:
            # After a reload the new exporter instance may own the gauge already: remove only our own.
            if fam.callbacks.get((self.exporter,)) is fn:
                fam.set_function((self.exporter,), None)
        self._gauges = []

    def dropped(self, reason: str, n: int = 1) -> None:
        child = self._dropped_children.get(reason)
        if child is None:
            child = self._dropped_children[reason] = self._dropped.labels(self.exporter, reason)
        child.inc(n)

    def corrupt(self, n: int = 1) -> None:
        self._corrupt.inc(n)
        self.dropped("corrupt", n)
