"""Batching without swallowing errors.

Every `consume` call waits until the batch its data went into has been handed downstream, and gets that
hand-off's error if there was one: a full exporter queue still reaches the receiver as retry-later, and no data
is held past `timeout`. Sends go out one at a time, in arrival order.
"""

from __future__ import annotations

import asyncio

from edgetel.component.errors import ConsumeError, QueueFullError
from edgetel.component.factory import CreateContext
from edgetel.component.protocols import Consumer
from edgetel.pdata import Batch, merge, split
from edgetel.processors.batch.config import BatchConfig
from edgetel.telemetry.components import ProcessorMetrics


class _Pending:
    __slots__ = ("batches", "done", "items", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.batches: list[Batch] = []
        self.items = 0
        self.done: asyncio.Future[None] = loop.create_future()
        self.timer: asyncio.TimerHandle | None = None


class BatchProcessor:
    mutates = False

    def __init__(self, ctx: CreateContext, cfg: BatchConfig, nxt: Consumer) -> None:
        self.cfg = cfg
        self.next = nxt
        self.lifecycle = ctx.lifecycle
        self.name = f"{ctx.pipeline}/{ctx.id}" if ctx.pipeline else str(ctx.id)
        labels = (str(ctx.id), str(ctx.pipeline or ""))
        self.metrics = ProcessorMetrics(ctx.metrics, str(ctx.id))
        self._pending: _Pending | None = None
        self._held = 0
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        reg = ctx.metrics
        self._batches_sent = reg.counter(
            "edgetel_processor_batch_sent_total",
            "batches the batch processor sent, by trigger",
            ("processor", "pipeline", "trigger"),
        )
        self._batch_size = reg.counter(
            "edgetel_processor_batch_items_total", "items the batch processor sent", ("processor", "pipeline")
        ).labels(*labels)
        reg.gauge(
            "edgetel_processor_batch_pending_items",
            "items the batch processor holds right now",
            ("processor", "pipeline"),
        ).set_function(labels, lambda: self._held)
        self._labels = labels

    async def start(self) -> None:
        pass

    async def consume(self, batch: Batch) -> None:
        n = batch.item_count()
        if n == 0:
            return
        if self._held + n > self.cfg.max_pending_items:
            raise QueueFullError(f"batch processor {self.name}")
        if float(self.cfg.timeout) == 0 or self.lifecycle.deadline is not None:
            # While the agent drains, hold nothing: upstream flushes (a connector's last metrics) go straight on.
            await self._send([batch], "immediate")
            return
        pending = self._pending
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = self._pending = _Pending(loop)
            pending.timer = loop.call_later(float(self.cfg.timeout), self._on_timeout, pending)
        pending.batches.append(batch)
        pending.items += n
        self._held += n
        if self.cfg.send_batch_size and pending.items >= self.cfg.send_batch_size:
            self._flush(pending, "size")
        await asyncio.shield(pending.done)

    def _on_timeout(self, pending: _Pending) -> None:
        if self._pending is pending:
            self._flush(pending, "timeout")

    def _flush(self, pending: _Pending, trigger: str) -> None:
        if self._pending is pending:
            self._pending = None
        if pending.timer is not None:
            pending.timer.cancel()
        task = asyncio.get_running_loop().create_task(self._deliver(pending, trigger))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, pending: _Pending, trigger: str) -> None:
        try:
            await self._send(pending.batches, trigger)
        except ConsumeError as e:
            pending.done.set_exception(e)
            pending.done.exception()  # retrieved here too: a caller that went away must not warn
        except Exception as e:
            pending.done.set_exception(ConsumeError(str(e)))
            pending.done.exception()
        else:
            pending.done.set_result(None)
        finally:
            self._held -= pending.items

    async def _send(self, batches: list[Batch], trigger: str) -> None:
        merged = merge(batches)
        async with self._send_lock:
            for part in split(merged, self.cfg.send_batch_max_size):
                await self.next.consume(part)
                self._batches_sent.labels(*self._labels, trigger).inc()
                self._batch_size.inc(part.item_count())

    async def shutdown(self) -> None:
        """Flush what is held and wait for every send to finish."""
        if self._pending is not None:
            self._flush(self._pending, "shutdown")
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
