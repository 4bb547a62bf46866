"""The buffer, retry and timeout wrapper around every exporter.

An exporter implements `Sender.send(batch)`, raising `ExportError` when the backend refuses. `QueuedExporter`
turns that into a pipeline consumer: `consume` appends the batch to the exporter's buffer (`buffer:` memory,
the default, bounded by `sending_queue.queue_size` batches; or disk, bounded by `buffer.max_size` bytes). A
full buffer applies `buffer.when_full`; a refusal raises `QueueFullError`, which receivers turn into a
retry-later answer. Consumer tasks take records from the buffer, send them with retries, and acknowledge a
record only once it is sent or refused for good: with a disk buffer, whatever is not acknowledged when the
agent stops or crashes is sent again after the restart, in order. With one consumer (`num_consumers: 1`)
records are sent in the order they were buffered; more consumers send in parallel and may reorder.
With the queue disabled (and a memory buffer), `consume` sends synchronously and the error goes back to the
caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import TYPE_CHECKING, Protocol

from edgetel.buffer import Buffer, Entry, open_buffer
from edgetel.component.errors import ConsumeError, PermanentError, QueueFullError, RetryableError
from edgetel.component.lifecycle import Lifecycle
from edgetel.helpers.settings import BufferSettings, QueueSettings, RetrySettings
from edgetel.pdata import Batch
from edgetel.telemetry.components import ExporterMetrics
from edgetel.telemetry.selfmetrics import Registry

if TYPE_CHECKING:
    from edgetel.component.factory import CreateContext


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
        *,
        buffer: BufferSettings | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.name = name
        self.sender = sender
        self.metrics = metrics
        self.log = logger
        self.lifecycle = lifecycle
        self.queue_settings = queue or QueueSettings()
        self.retry = retry or RetrySettings()
        self.buffer_settings = buffer or BufferSettings()
        self._registry = registry if registry is not None else metrics.registry
        self._buffer: Buffer | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[None]] = set()
        self._in_flight = 0
        self._closing = False
        self._stop = asyncio.Event()
        self._started = False
        self._queued = self.buffer_settings.type == "disk" or self.queue_settings.enabled
        if self.buffer_settings.type == "memory":
            metrics.queue_capacity.set(self.queue_settings.queue_size)

    @property
    def persistent(self) -> bool:
        """True with a disk buffer: records not sent stay buffered across a stop or a failed send budget."""
        return self.buffer_settings.type == "disk"

    async def start(self) -> None:
        if self._queued:
            self._buffer = await open_buffer(
                self.buffer_settings,
                name=self.name,
                capacity=self.queue_settings.queue_size,
                registry=self._registry,
                logger=self.log,
                on_evict=self._evicted,
            )
        try:
            await self.sender.start()
        except BaseException:
            if self._buffer is not None:
                await self._buffer.close()
                self._buffer = None
            raise
        self._started = True
        self._update_gauge()
        if self._buffer is not None:
            self._workers = [
                asyncio.create_task(self._work(self._buffer), name=f"{self.name}-sender-{i}")
                for i in range(self.queue_settings.num_consumers)
            ]

    def _evicted(self, batch: Batch) -> None:
        self.metrics.send_failed(batch.unit, batch.item_count())

    def _update_gauge(self) -> None:
        if self._buffer is not None:
            self.metrics.queue_size.set(max(0, self._buffer.records() - self._in_flight))

    async def consume(self, batch: Batch) -> None:
        if self._closing:
            raise RetryableError(f"exporter {self.name} is shutting down", retry_after=1.0)
        if not self._queued:
            await self._send_with_retry(batch, raise_errors=True)
            return
        if self._buffer is None:
            raise RetryableError(f"exporter {self.name} is not started", retry_after=1.0)
        try:
            await self._buffer.push(batch)
        except ConsumeError as e:
            self.metrics.enqueue_failed(batch.unit, batch.item_count())
            if isinstance(e, QueueFullError):
                self.log.warning("exporter buffer is full; refusing data",
                                 extra={"exporter": self.name, "error": str(e)})  # fmt: skip
            raise
        self._update_gauge()

    async def _work(self, buf: Buffer) -> None:
        task = asyncio.current_task()
        assert task is not None
        while True:
            if self._closing and not buf.drain_on_close:
                return
            entry = await buf.get()
            if entry is None:
                return
            if self._closing and not buf.drain_on_close:
                buf.release(entry)
                return
            self._busy.add(task)
            self._in_flight += 1
            self._update_gauge()
            done = False
            try:
                done = await self._send_with_retry(entry.batch, raise_errors=False)
            finally:
                self._in_flight -= 1
                self._busy.discard(task)
                self._finish(buf, entry, done)
            if not done:
                return

    def _finish(self, buf: Buffer, entry: Entry, done: bool) -> None:
        if done:
            buf.ack(entry)
        elif self.persistent:
            buf.release(entry)  # stays on disk; sent after the restart
        self._update_gauge()

    async def _send_with_retry(self, batch: Batch, raise_errors: bool) -> bool:
        """Send with retries. True: sent or given up on (acknowledge it); False: keep it buffered (shutdown)."""
        items = batch.item_count()
        started = time.monotonic()
        interval = float(self.retry.initial_interval)
        persistent = self.persistent and not raise_errors
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
                    return True
                self.metrics.retried()
                if persistent and self._closing:
                    return False
                delay = (
                    e.retry_after if e.retry_after is not None else jittered(interval, self.retry.randomization_factor)
                )
                interval = min(interval * self.retry.multiplier, float(self.retry.max_interval))
                elapsed = time.monotonic() - started
                budget = float(self.retry.max_elapsed_time)
                # A disk buffer keeps the record until it is delivered: max_size bounds the backlog instead.
                over_budget = budget > 0 and elapsed + delay > budget and not persistent
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
                    return True
                self.log.warning(
                    "export failed; will retry",
                    extra={"exporter": self.name, "error": str(e), "retry_in_s": round(delay, 3)},
                )
                if persistent:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), delay)
                    if self._closing:
                        return False
                else:
                    await asyncio.sleep(delay)
                continue
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.metrics.send_failed(batch.unit, items)
                self.log.exception("exporter raised unexpectedly; dropping the batch", extra={"exporter": self.name})
                if raise_errors:
                    raise PermanentError(f"{self.name}: {e}") from e
                return True
            self.metrics.sent(batch.unit, items)
            return True

    def queued(self) -> int:
        return self._buffer.records() if self._buffer is not None else 0

    async def shutdown(self) -> None:
        """Memory buffer: send what is queued until the shutdown deadline, count the rest as failed.
        Disk buffer: finish the sends in progress (until the deadline), keep everything else on disk."""
        self._closing = True
        self._stop.set()
        buf = self._buffer
        if buf is not None:
            buf.close_reading()
            if not buf.drain_on_close:
                for task in self._workers:
                    if task not in self._busy:
                        task.cancel()
            pending: set[asyncio.Task[None]] = set()
            if self._workers:
                _, pending = await asyncio.wait(self._workers, timeout=self.lifecycle.remaining())
            for task in pending:
                task.cancel()
            for task in self._workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._workers = []
            lost_batches = await buf.close()
            lost = 0
            for entry in lost_batches:
                lost += entry.batch.item_count()
                self.metrics.send_failed(entry.batch.unit, entry.batch.item_count())
            if lost or (pending and buf.drain_on_close):
                self.log.error(
                    "shutdown deadline reached; data still queued was dropped",
                    extra={"exporter": self.name, "items": lost},
                )
            self.metrics.queue_size.set(0)
            self._buffer = None
        if self._started:
            await self.sender.shutdown()


class QueuedExporterSettings(Protocol):
    """What an exporter config carries for the queue wrapper (every exporter config has these keys)."""

    sending_queue: QueueSettings
    retry_on_failure: RetrySettings
    buffer: BufferSettings


def queued_exporter(ctx: CreateContext, sender: Sender, cfg: QueuedExporterSettings) -> QueuedExporter:
    """The standard exporter: `sender` behind the queue, retry and buffer its config asks for."""
    name = str(ctx.id)
    return QueuedExporter(
        name,
        sender,
        ExporterMetrics(ctx.metrics, name),
        ctx.logger,
        ctx.lifecycle,
        queue=cfg.sending_queue,
        retry=cfg.retry_on_failure,
        buffer=cfg.buffer,
        registry=ctx.metrics,
    )
