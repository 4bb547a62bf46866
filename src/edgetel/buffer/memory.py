"""The memory buffer: a bounded deque of batches (capacity in batches: `sending_queue.queue_size`)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from edgetel.buffer.base import BufferMetrics, Entry
from edgetel.component.errors import QueueFullError
from edgetel.pdata import Batch


class MemoryBuffer:
    kind = "memory"
    drain_on_close = True

    def __init__(
        self,
        name: str,
        capacity: int,
        when_full: str,
        block_timeout: float,
        metrics: BufferMetrics,
        on_evict: Callable[[Batch], None] | None = None,
    ) -> None:
        self.name = name
        self.capacity = capacity
        self.when_full = when_full
        self.block_timeout = block_timeout
        self.metrics = metrics
        self._on_evict = on_evict
        self._queue: deque[Entry] = deque()
        self._in_flight: dict[int, Entry] = {}
        self._next_id = 1
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self._closing = False

    async def open(self) -> None:
        self.metrics.watch(self)

    async def push(self, batch: Batch) -> None:
        if len(self._queue) >= self.capacity:
            await self._make_room()
        self._queue.append(Entry(batch, self._next_id, int(time.time() * 1000)))
        self._next_id += 1
        self._ready.set()

    async def _make_room(self) -> None:
        if self.when_full == "drop_oldest":
            old = self._queue.popleft()
            self.metrics.dropped("full")
            if self._on_evict is not None:
                self._on_evict(old.batch)
            return
        if self.when_full == "block":
            deadline = time.monotonic() + self.block_timeout
            while len(self._queue) >= self.capacity and not self._closing:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._space.clear()
                try:
                    await asyncio.wait_for(self._space.wait(), left)
                except TimeoutError:
                    break
            if len(self._queue) < self.capacity:
                return
        self.metrics.dropped("full")
        raise QueueFullError(f"exporter {self.name}")

    async def get(self) -> Entry | None:
        while not self._queue:
            if self._closing:
                return None
            self._ready.clear()
            await self._ready.wait()
        entry = self._queue.popleft()
        self._in_flight[entry.id] = entry
        self._space.set()
        return entry

    def ack(self, entry: Entry) -> None:
        self._in_flight.pop(entry.id, None)

    def release(self, entry: Entry) -> None:
        if self._in_flight.pop(entry.id, None) is not None:
            self._queue.appendleft(entry)
            self._ready.set()

    def close_reading(self) -> None:
        self._closing = True
        self._ready.set()
        self._space.set()

    def records(self) -> int:
        return len(self._queue) + len(self._in_flight)

    def queued(self) -> int:
        return len(self._queue)

    def size_bytes(self) -> int:
        return 0  # not measured: sizing a protobuf costs about as much as serializing it

    def oldest_age(self) -> float:
        oldest = min((e.time_ms for e in self._in_flight.values()), default=None)
        if self._queue:
            head = self._queue[0].time_ms
            oldest = head if oldest is None else min(oldest, head)
        return 0.0 if oldest is None else max(0.0, time.time() - oldest / 1000)

    async def close(self) -> list[Entry]:
        self.close_reading()
        lost = [*self._in_flight.values(), *self._queue]
        self._in_flight.clear()
        self._queue.clear()
        self.metrics.unwatch()
        return lost
