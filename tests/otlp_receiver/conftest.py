"""A running otlp receiver in-process, feeding a collecting consumer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from edgetel.component.errors import ConsumeError
from edgetel.component.factory import CreateContext
from edgetel.component.ids import ComponentID, Kind, Signal
from edgetel.component.lifecycle import Lifecycle
from edgetel.config.decode import decode
from edgetel.config.problems import Problems
from edgetel.pdata import Batch
from edgetel.pipeline.sockets import SocketPool
from edgetel.receivers.otlp.config import OTLPConfig
from edgetel.receivers.otlp.factory import factory
from edgetel.receivers.otlp.receiver import OTLPReceiver
from edgetel.telemetry.selfmetrics import Registry


class Collect:
    """A consumer that keeps what it gets, or raises `fail` when set."""

    mutates = False

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.fail: ConsumeError | None = None

    async def consume(self, batch: Batch) -> None:
        if self.fail is not None:
            raise self.fail
        self.batches.append(batch)

    def items(self) -> int:
        return sum(b.item_count() for b in self.batches)


class Harness:
    def __init__(self, receiver: OTLPReceiver, ctx: CreateContext, traces: Collect, metrics: Collect) -> None:
        self.receiver = receiver
        self.ctx = ctx
        self.traces = traces
        self.metrics = metrics

    @property
    def grpc_target(self) -> str:
        assert self.receiver.grpc is not None
        return f"127.0.0.1:{self.receiver.grpc.port}"

    @property
    def http_url(self) -> str:
        assert self.receiver.http is not None
        return f"http://127.0.0.1:{self.receiver.http.port}"

    def metric(self, name: str, *labels: str) -> float:
        return self.ctx.metrics.value(name, *labels)


def load_config(raw: dict[str, Any]) -> OTLPConfig:
    problems = Problems("test")
    cfg = decode(OTLPConfig, raw, problems)
    assert not problems.errors, problems.errors
    return cfg


def make_ctx(sockets: SocketPool | None = None, registry: Registry | None = None) -> CreateContext:
    return CreateContext(
        id=ComponentID("otlp"),
        kind=Kind.RECEIVER,
        logger=logging.getLogger("test.otlp"),
        metrics=registry or Registry(),
        sockets=sockets or SocketPool(),
        lifecycle=Lifecycle(),
    )


@asynccontextmanager
async def running(raw: dict[str, Any], ctx: CreateContext | None = None) -> AsyncIterator[Harness]:
    ctx = ctx or make_ctx()
    traces, metrics = Collect(), Collect()
    receiver = factory.create(ctx, load_config(raw), {Signal.TRACES: traces, Signal.METRICS: metrics})
    assert isinstance(receiver, OTLPReceiver)
    await receiver.start()
    try:
        yield Harness(receiver, ctx, traces, metrics)
    finally:
        await receiver.shutdown()
        ctx.sockets.close_all()


BOTH = {"protocols": {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}}}


@pytest.fixture
async def rx() -> AsyncIterator[Harness]:
    async with running(BOTH) as h:
        yield h


Runner = Callable[[dict[str, Any]], Any]
