"""The pipeline graph in-process: fan-out, copies only for mutators, start/stop order, reload carry-over."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edgetel.agent import Agent
from edgetel.component.errors import QueueFullError
from edgetel.component.ids import ComponentID, Signal
from edgetel.component.lifecycle import Lifecycle
from edgetel.config import model
from edgetel.pdata import Batch
from edgetel.pipeline.fanout import Fanout
from edgetel.pipeline.graph import Graph
from edgetel.pipeline.sockets import SocketPool
from edgetel.telemetry.selfmetrics import Registry
from tests.core import components
from tests.helpers import make_metrics, make_traces

CONFIG = """
receivers:
  push: {}
processors:
  batch: {timeout: 10ms}
exporters:
  collect/a: {}
  collect/b: {}
service:
  pipelines:
    metrics: {receivers: [push], processors: [batch], exporters: [collect/a, collect/b]}
    traces: {receivers: [push], exporters: [collect/a]}
    metrics/raw: {receivers: [push], exporters: [collect/b]}
"""


def build(text: str, previous: Graph | None = None) -> Graph:
    cfg = model.load_string(text, "cfg.yaml", env={})
    return Graph(cfg, Registry(), SocketPool(), Lifecycle(), {}, previous=previous)


async def test_fanout_routes_by_signal_and_pipeline() -> None:
    g = build(CONFIG)
    await g.start_backend()
    await g.start_receivers()
    rcv = components.RECEIVERS["push"]
    await rcv.push(make_metrics(1, 2))
    await rcv.push(make_traces(1, 3))
    a, b = components.EXPORTERS["collect/a"], components.EXPORTERS["collect/b"]
    assert sorted(x.item_count() for x in a.batches) == [2, 3]
    assert sorted(x.item_count() for x in b.batches) == [2, 2]
    await g.stop_receivers()
    await g.stop_backend()
    assert a.stopped and b.stopped and rcv.stopped


class Mutator:
    def __init__(self, mutates: bool) -> None:
        self.mutates = mutates
        self.seen: list[Batch] = []

    async def consume(self, batch: Batch) -> None:
        self.seen.append(batch)


async def test_copies_only_for_mutating_consumers() -> None:
    readers = [Mutator(False), Mutator(False)]
    writers = [Mutator(True), Mutator(True)]
    batch = make_traces()
    await Fanout([*readers, *writers]).consume(batch)
    assert all(r.seen[0] is batch for r in readers)
    assert all(w.seen[0] is not batch for w in writers)
    assert writers[0].seen[0] is not writers[1].seen[0]
    single = Mutator(True)
    await Fanout([single]).consume(batch)
    assert single.seen[0] is batch


async def test_fanout_raises_after_trying_everyone() -> None:
    class Refuser:
        mutates = False

        async def consume(self, batch: Batch) -> None:
            raise QueueFullError("x")

    ok = Mutator(False)
    with pytest.raises(QueueFullError):
        await Fanout([Refuser(), ok]).consume(make_traces())
    assert len(ok.seen) == 1


async def test_reload_carries_unchanged_exporters_over() -> None:
    g1 = build(CONFIG)
    await g1.start_backend()
    old_a, old_b = g1.exporters[ComponentID("collect", "a")], g1.exporters[ComponentID("collect", "b")]
    g2 = build(CONFIG.replace("collect/b: {}", "collect/b: {refuse: true}"), previous=g1)
    assert g2.exporters[ComponentID("collect", "a")] is old_a
    assert g2.exporters[ComponentID("collect", "b")] is not old_b
    await g2.start_backend()
    await g1.stop_backend(keep=g2.exporters)
    assert not components.EXPORTERS["collect/a"].stopped
    assert old_b.stopped  # type: ignore[attr-defined]
    await g2.stop_backend()


def agent_for(text: str) -> Agent:
    cfg = model.load_string(text, "cfg.yaml", env={})
    return Agent(cfg, None)


async def http_get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


async def test_agent_serves_health_ready_metrics_and_drains() -> None:
    agent = agent_for(CONFIG + "  admin: {endpoint: '127.0.0.1:0'}\n")
    task = asyncio.create_task(agent.run())
    for _ in range(200):
        if agent.ready:
            break
        await asyncio.sleep(0.01)
    port = agent.admin.port
    assert await http_get(port, "/healthz") == (200, "ok\n")
    assert (await http_get(port, "/readyz"))[0] == 200
    await components.RECEIVERS["push"].push(make_metrics(1, 5))
    status, text = await http_get(port, "/metrics")
    assert status == 200
    for name in ("edgetel_process_cpu_seconds_total", "edgetel_process_resident_memory_bytes",
                 "edgetel_process_uptime_seconds", 'edgetel_build_info{version="0.1.0"} 1',
                 'edgetel_processor_batch_items_total{processor="batch",pipeline="metrics"} 5'):
        assert name in text
    assert (await http_get(port, "/nope"))[0] == 404
    agent.request_stop()
    assert await asyncio.wait_for(task, 10) == 0
    assert components.EXPORTERS["collect/a"].stopped


async def test_agent_reload_keeps_running_config_when_new_one_is_invalid(tmp_path: Any) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(CONFIG + "  admin: {enabled: false}\n")
    agent = Agent(model.load(str(path), env={}), str(path))
    task = asyncio.create_task(agent.run())
    while not agent.ready:
        await asyncio.sleep(0.01)
    graph = agent.graph
    path.write_text("receivers: {push: {nope: 1}}\n")
    assert await agent.reload() is False
    assert agent.graph is graph
    assert agent.metrics.value("edgetel_config_reloads_total", "invalid") == 1
    path.write_text(CONFIG.replace("timeout: 10ms", "timeout: 20ms") + "  admin: {enabled: false}\n")
    assert await agent.reload() is True
    assert agent.graph is not graph
    await components.RECEIVERS["push"].push(make_metrics(1, 1))
    assert agent.metrics.value("edgetel_config_reloads_total", "ok") == 1
    agent.request_stop()
    assert await asyncio.wait_for(task, 10) == 0


async def test_sockets_survive_reload_and_unclaimed_ones_close() -> None:
    pool = SocketPool()
    pool.begin_generation()
    s1 = pool.tcp("127.0.0.1", 0)
    u1 = pool.udp("127.0.0.1", 0)
    pool.end_generation()
    pool.begin_generation()
    assert pool.tcp("127.0.0.1", 0) is s1
    pool.end_generation()
    assert s1.fileno() != -1
    assert u1.fileno() == -1
    pool.close_all()
    assert s1.fileno() == -1
    assert Signal.METRICS == "metrics"


async def test_connector_final_flush_reaches_running_downstream_processors() -> None:
    text = """
receivers:
  push: {}
processors:
  batch: {timeout: 1h, send_batch_size: 100000}
connectors:
  spanmetrics: {metrics_flush_interval: 1h}
exporters:
  collect/m: {}
service:
  pipelines:
    traces: {receivers: [push], processors: [batch], exporters: [spanmetrics]}
    metrics: {receivers: [spanmetrics], processors: [batch], exporters: [collect/m]}
"""
    g = build(text)
    await g.start_backend()
    await g.start_receivers()
    g._lifecycle.deadline = asyncio.get_running_loop().time() + 10
    pushed = asyncio.ensure_future(components.RECEIVERS["push"].push(make_traces(1, 4)))
    await asyncio.sleep(0.05)
    await g.stop_receivers()
    await g.stop_backend()
    await pushed
    # traces batch flushed into spanmetrics, spanmetrics flushed into the metrics batch, which flushed to collect.
    got = components.EXPORTERS["collect/m"].batches
    assert got and sum(b.item_count() for b in got) > 0
    assert all(s == "stopped" for s in g.states.values() if not s.startswith("receiver"))
