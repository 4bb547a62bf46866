from __future__ import annotations

import asyncio
import logging

import pytest

from edgetel.component.errors import PermanentError, QueueFullError
from edgetel.component.factory import CreateContext
from edgetel.component.ids import ComponentID, Kind
from edgetel.component.lifecycle import Lifecycle
from edgetel.config.types import Duration
from edgetel.pdata import Batch
from edgetel.pipeline.sockets import SocketPool
from edgetel.processors.batch.config import BatchConfig
from edgetel.processors.batch.processor import BatchProcessor
from edgetel.telemetry.selfmetrics import Registry
from tests.helpers import make_traces


class Sink:
    mutates = False

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.error: Exception | None = None

    async def consume(self, batch: Batch) -> None:
        if self.error is not None:
            raise self.error
        self.batches.append(batch)


def make(cfg: BatchConfig, sink: Sink) -> tuple[BatchProcessor, Registry]:
    reg = Registry()
    ctx = CreateContext(ComponentID("batch"), Kind.PROCESSOR, logging.getLogger("t"), reg, SocketPool(), Lifecycle())
    return BatchProcessor(ctx, cfg, sink), reg


async def test_size_trigger_sends_at_once() -> None:
    sink = Sink()
    bp, _ = make(BatchConfig(send_batch_size=6, timeout=Duration(30)), sink)
    t0 = asyncio.get_running_loop().time()
    await asyncio.gather(bp.consume(make_traces(1, 3)), bp.consume(make_traces(1, 3)))
    assert asyncio.get_running_loop().time() - t0 < 1
    assert [b.item_count() for b in sink.batches] == [6]


async def test_timeout_trigger_holds_no_longer_than_timeout() -> None:
    sink = Sink()
    bp, reg = make(BatchConfig(send_batch_size=1000, timeout=Duration(0.05)), sink)
    t0 = asyncio.get_running_loop().time()
    await bp.consume(make_traces(1, 2))
    waited = asyncio.get_running_loop().time() - t0
    assert 0.04 <= waited < 1.0
    assert [b.item_count() for b in sink.batches] == [2]
    assert reg.value("edgetel_processor_batch_sent_total", "batch", "", "timeout") == 1


async def test_max_size_splits() -> None:
    sink = Sink()
    bp, _ = make(BatchConfig(send_batch_size=4, send_batch_max_size=4, timeout=Duration(1)), sink)
    await bp.consume(make_traces(2, 5))
    assert [b.item_count() for b in sink.batches] == [4, 4, 2]


@pytest.mark.parametrize("error", [QueueFullError("exp"), PermanentError("bad")])
async def test_downstream_error_reaches_every_caller(error: Exception) -> None:
    sink = Sink()
    sink.error = error
    bp, _ = make(BatchConfig(send_batch_size=100, timeout=Duration(0.02)), sink)
    results = await asyncio.gather(bp.consume(make_traces()), bp.consume(make_traces()), return_exceptions=True)
    assert all(r is error for r in results)
    sink.error = None
    await bp.consume(make_traces())
    assert len(sink.batches) == 1


async def test_pending_bound_pushes_back() -> None:
    sink = Sink()
    bp, _ = make(BatchConfig(send_batch_size=10, timeout=Duration(5), max_pending_items=10), sink)
    first = asyncio.ensure_future(bp.consume(make_traces(1, 8)))
    await asyncio.sleep(0)
    with pytest.raises(QueueFullError):
        await bp.consume(make_traces(1, 8))
    await bp.shutdown()
    await first
    assert sink.batches[0].item_count() == 8


async def test_shutdown_flushes() -> None:
    sink = Sink()
    bp, _ = make(BatchConfig(send_batch_size=100, timeout=Duration(60)), sink)
    waiter = asyncio.ensure_future(bp.consume(make_traces(1, 3)))
    await asyncio.sleep(0.01)
    await bp.shutdown()
    await waiter
    assert [b.item_count() for b in sink.batches] == [3]


async def test_zero_timeout_sends_immediately() -> None:
    sink = Sink()
    bp, _ = make(BatchConfig(send_batch_size=100, timeout=Duration(0)), sink)
    await bp.consume(make_traces(1, 3))
    assert len(sink.batches) == 1
