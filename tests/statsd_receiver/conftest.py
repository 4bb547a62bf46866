"""In-process helpers: a StatsD receiver wired to a collecting consumer, and OTLP point look-ups."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from edgetel._native import load
from edgetel.component.errors import RetryableError
from edgetel.component.factory import CreateContext
from edgetel.component.ids import ComponentID, Kind, Signal
from edgetel.component.lifecycle import Lifecycle
from edgetel.pdata import Batch, Metrics
from edgetel.pipeline.sockets import SocketPool
from edgetel.receivers.statsd.config import StatsdConfig
from edgetel.receivers.statsd.receiver import StatsdReceiver
from edgetel.telemetry.selfmetrics import Registry


class Collect:
    mutates = False

    def __init__(self) -> None:
        self.batches: list[Metrics] = []
        self.refuse = 0

    async def consume(self, batch: Batch) -> None:
        if self.refuse:
            self.refuse -= 1
            raise RetryableError("backend down", 1.0)
        assert isinstance(batch, Metrics)
        self.batches.append(batch)


def make_ctx(state: dict[str, Any] | None = None, registry: Registry | None = None) -> CreateContext:
    return CreateContext(
        id=ComponentID("statsd"),
        kind=Kind.RECEIVER,
        logger=logging.getLogger("statsd-test"),
        metrics=registry or Registry(),
        sockets=SocketPool(),
        lifecycle=Lifecycle(),
        state=state if state is not None else {},
    )


def points(batch: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], tuple[Any, Any]]:
    """(metric name, sorted attributes) -> (metric, data point)."""
    out = {}
    for rm in batch.request.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                for p in getattr(m, kind).data_points:
                    attrs = tuple(sorted((kv.key, kv.value.string_value) for kv in p.attributes))
                    out[(m.name, attrs)] = (m, p)
    return out


async def wait_until(cond: Callable[[], bool], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


Factory = Callable[..., Any]


@pytest.fixture(autouse=True, params=["native", "python"])
def statsd_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with the compiled digest and with the Python path (`EDGETEL_STATSD_PYTHON=1`)."""
    if request.param == "python":
        monkeypatch.setenv("EDGETEL_STATSD_PYTHON", "1")
    else:
        monkeypatch.delenv("EDGETEL_STATSD_PYTHON", raising=False)
        if load("statsd") is None:
            pytest.skip("edgetel._native.statsd is not built")
    return str(request.param)


@pytest.fixture
async def start_receiver() -> AsyncIterator[Factory]:
    started: list[tuple[StatsdReceiver, CreateContext]] = []

    async def make(cfg: StatsdConfig | None = None, **kw: Any) -> tuple[StatsdReceiver, Collect]:
        cfg = cfg or StatsdConfig(endpoint="127.0.0.1:0", aggregation_interval=3600, **kw)  # type: ignore[arg-type]
        ctx = make_ctx()
        sink = Collect()
        rcv = StatsdReceiver(ctx, cfg, {Signal.METRICS: sink})
        await rcv.start()
        started.append((rcv, ctx))
        return rcv, sink

    yield make
    for rcv, ctx in started:
        await rcv.shutdown()
        ctx.sockets.close_all()
