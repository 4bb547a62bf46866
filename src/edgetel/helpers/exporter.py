"""The queue, retry and timeout wrapper around every exporter.

An exporter implements `Sender.send(batch)`, raising `ExportError` when the backend refuses. `QueuedExporter`
turns that into a pipeline consumer: `consume` puts the batch in a bounded queue (a full queue raises
`QueueFullError`, which receivers turn into a retry-later answer) and consumer tasks send with retries. With
the queue disabled, `consume` sends synchronously and the error goes back to the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from typing import Protocol

from edgetel.component.errors import PermanentError, QueueFullError, RetryableError
from edgetel.component.lifecycle import Lifecycle
from edgetel.helpers.settings import QueueSettings, RetrySettings
from edgetel.pdata import Batch
from edgetel.telemetry.components import ExporterMetrics


class ExportError(Exception):
    """A send failed. `retryable` says whether to try again; `retry_after` is the server's hint in seconds."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Sender(Protocol):
    async def start(self) -> None: ...

    async def send(self, batch: Batch) -> None: ...

    async def shutdown(self) -> None: ...


def jittered(interval: float, factor: float) -> float:
    delta = factor * interval
    return random.uniform(interval - delta, interval + delta)


class QueuedExporter:
    mutates = False

    def __init__(
        self,
        name: str,
        sender: Sender,
        metrics: ExporterMetrics,
        logger: logging.Logger,
        lifecycle: Lifecycle,
        queue: QueueSettings | None = None,
        retry: RetrySettings | None = None,
    ) -> None:
        self.name = name
        self.sender = sender
        self.metrics = metrics
        self.log = logger
        self.lifecycle = lifecycle
        self.queue_settings = queue or QueueSettings()
        self.retry = retry or RetrySettings()
        self._queue: deque[Batch] = deque()
        self._ready = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._in_flight = 0
        self._closing = False
        self._started = False
        metrics.queue_capacity.set(self.queue_settings.queue_size)

    async def start(self) -> None:
        await self.sender.start()
        self._started = True
        if self.queue_settings.enabled:
            self._workers = [
                asyncio.create_task(self._work(), name=f"{self.name}-sender-{i}")
                for i in range(self.queue_settings.num_consumers)
            ]

    async def consume(self, batch: Batch) -> None:
        if self._closing:
            raise RetryableError(f"exporter {self.name} is shutting down", retry_after=1.0)
        if not self.queue_settings.enabled:
            await self._send_with_retry(batch, raise_errors=True)
            return
        if len(self._queue) >= self.queue_settings.queue_size:
            self.metrics.enqueue_failed(batch.unit, batch.item_count())
            self.log.warning("sending queue is full; refusing data", extra={"exporter": self.name})
            raise QueueFullError(f"exporter {self.name}")
        self._queue.append(batch)
        self.metrics.queue_size.set(len(self._queue))
        self._ready.set()

    async def _work(self) -> None:
        while True:
            while not self._queue:
                if self._closing:
                    return
                self._ready.clear()
                await self._ready.wait()
            batch = self._queue.popleft()
            self.metrics.queue_size.set(len(self._queue))
            self._in_flight += 1
            try:
                await self._send_with_retry(batch, raise_errors=False)
            finally:
                self._in_flight -= 1

    async def _send_with_retry(self, batch: Batch, raise_errors: bool) -> None:
        items = batch.item_count()
        started = time.monotonic()
        interval = float(self.retry.initial_interval)
        while True:
            try:
                await self.sender.send(batch)
            except ExportError as e:
                if not e.retryable or not self.retry.enabled:
                    self.metrics.send_failed(batch.unit, items)
                    self.log.error(
                        "export failed permanently; dropping the batch",
                        extra={"exporter": self.name, "error": str(e), "items": items},
                    )
                    if raise_errors:
                        raise PermanentError(str(e)) from e
                    return
                self.metrics.retried()
                delay = e.retry_after if e.retry_after is not None else jittered(
                    interval, self.retry.randomization_factor
                )
                interval = min(interval * self.retry.multiplier, float(self.retry.max_interval))
                elapsed = time.monotonic() - started
                budget = float(self.retry.max_elapsed_time)
                over_budget = budget > 0 and elapsed + delay > budget
                if self._closing:
                    over_budget = over_budget or delay > self.lifecycle.remaining()
                if over_budget:
                    self.metrics.send_failed(batch.unit, items)
                    self.log.error(
                        "export failed; retries exhausted, dropping the batch",
                        extra={"exporter": self.name, "error": str(e), "items": items},
                    )
                    if raise_errors:
                        raise RetryableError(str(e), e.retry_after) from e
                    return
                self.log.warning(
                    "export failed; will retry",
                    extra={"exporter": self.name, "error": str(e), "retry_in_s": round(delay, 3)},
                )
                await asyncio.sleep(delay)
                continue
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.metrics.send_failed(batch.unit, items)
                self.log.exception("exporter raised unexpectedly; dropping the batch", extra={"exporter": self.name})
                if raise_errors:
                    raise PermanentError(f"{self.name}: {e}") from e
                return
            self.metrics.sent(batch.unit, items)
            return

    def queued(self) -> int:
        return len(self._queue) + self._in_flight

    async def shutdown(self) -> None:
        """Send what is queued until the shutdown deadline; count the rest as failed."""
        self._closing = True
        self._ready.set()
        if self._workers:
            done, pending = await asyncio.wait(self._workers, timeout=self.lifecycle.remaining())
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            lost = 0
            while self._queue:
                batch = self._queue.popleft()
                lost += batch.item_count()
                self.metrics.send_failed(batch.unit, batch.item_count())
            if lost or pending:
                self.log.error(
                    "shutdown deadline reached; data still queued was dropped",
                    extra={"exporter": self.name, "items": lost},
                )
            self.metrics.queue_size.set(0)
            self._workers = []
        if self._started:
            await self.sender.shutdown()
