"""Tail sampling throughput, CPU and memory.

1. in-process: the processor alone (default policies: errors, latency_percentile 99, probabilistic 1%) on parsed
   requests of 500 spans (100 traces x 5 spans, 5 attributes each); CPU per span for intake + decisions.
2. the real agent (`edgetel run`, a subprocess): OTLP/gRPC in -> tail_sampling -> OTLP/gRPC out to a test OTLP
   server. The load generator sends pre-serialized requests over raw gRPC.
   a. 10,000 spans/s for 25 s with decision_wait 10s and root_grace 10s (so that 10 s of spans are held):
      agent CPU (share of one core), RSS, spans held, RSS bytes per held span ((RSS - idle RSS) / spans held).
   b. as fast as the agent takes it for 10 s (8 requests in flight), then until every trace is decided:
      spans per agent CPU-second (intake, decisions, export).
   c. the same paced load without tail_sampling (OTLP in -> OTLP out), for the receiver/exporter share.
   d. the same paced load with the default agent.yaml's layout minus redaction: tail_sampling plus a second
      traces pipeline into the spanmetrics connector (phases a-c have no spanmetrics).

Run: .venv/bin/python benchmarks/tailsampling_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from edgetel.component.factory import CreateContext  # noqa: E402
from edgetel.component.ids import ComponentID, Kind  # noqa: E402
from edgetel.component.lifecycle import Lifecycle  # noqa: E402
from edgetel.config.decode import decode  # noqa: E402
from edgetel.config.problems import Problems  # noqa: E402
from edgetel.pdata import Batch, Traces  # noqa: E402
from edgetel.pipeline.sockets import SocketPool  # noqa: E402
from edgetel.processors.tailsampling.config import TailSamplingConfig  # noqa: E402
from edgetel.processors.tailsampling.processor import TailSamplingProcessor  # noqa: E402
from edgetel.telemetry.selfmetrics import Registry  # noqa: E402

POLICIES = [
    {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
    {"name": "slow", "type": "latency_percentile", "latency_percentile": {"percentile": 99}},
    {"name": "random", "type": "probabilistic", "probabilistic": {"sampling_percentage": 1}},
]
ENDPOINTS = [("GET /", 0.02), ("GET /items/{id}", 0.003), ("POST /checkout", 0.5), ("GET /search", 0.2)]
SPANS_PER_TRACE = 5
TRACES_PER_REQUEST = 100


def template() -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for rk, rv in (("service.name", "shop"), ("host.name", "edge-01"), ("telemetry.sdk.language", "python")):
        kv = rs.resource.attributes.add(key=rk)
        kv.value.string_value = rv
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.flask"
    ss.scope.version = "0.45b0"
    for t in range(TRACES_PER_REQUEST):
        for s in range(SPANS_PER_TRACE):
            sp = ss.spans.add(name=ENDPOINTS[t % len(ENDPOINTS)][0] if s == 0 else f"SELECT items {s}",
                              kind=2 if s == 0 else 3)  # fmt: skip
            sp.span_id = random.getrandbits(64).to_bytes(8, "big")
            if s:
                sp.parent_span_id = b"\x01" * 8
            attrs: list[tuple[str, str | int]] = [("http.method", "GET"), ("http.route", "/items/{id}"),
                ("net.peer.name", "10.1.2.3"), ("server.address", "shop.internal"), ("http.status_code", 200)]  # fmt: skip
            for k, v in attrs:
                a = sp.attributes.add(key=k)
                if isinstance(v, int):
                    a.value.int_value = v
                else:
                    a.value.string_value = v
    return req


def requests(n: int, seed: int = 1) -> list[bytes]:
    """n serialized requests with unique trace ids and log-normal durations per endpoint; 1% error traces."""
    rng = random.Random(seed)
    base = template()
    out = []
    now = time.time_ns()
    for _ in range(n):
        spans = base.resource_spans[0].scope_spans[0].spans
        for t in range(TRACES_PER_REQUEST):
            tid = rng.getrandbits(128).to_bytes(16, "big")
            median = ENDPOINTS[t % len(ENDPOINTS)][1]
            dur = int(median * math.exp(rng.gauss(0, 0.6)) * 1e9)
            error = rng.random() < 0.01
            for s in range(SPANS_PER_TRACE):
                sp = spans[t * SPANS_PER_TRACE + s]
                sp.trace_id = tid
                sp.start_time_unix_nano = now
                sp.end_time_unix_nano = now + (dur if s == 0 else dur // 3)
                sp.status.code = 2 if error and s == 1 else 0
        out.append(base.SerializeToString())
    return out


class Sink:
    mutates = False

    def __init__(self) -> None:
        self.spans = 0

    async def consume(self, batch: Batch) -> None:
        self.spans += batch.item_count()


async def in_process(reqs: list[bytes]) -> tuple[float, float, int]:
    p = Problems("bench")
    cfg = decode(TailSamplingConfig, {"decision_wait": "10s", "policies": POLICIES}, p)
    assert not p.errors
    clock = [0.0]
    ctx = CreateContext(id=ComponentID("tail_sampling"), kind=Kind.PROCESSOR, logger=logging.getLogger("b"),
                        metrics=Registry(), sockets=SocketPool(), lifecycle=Lifecycle())  # fmt: skip
    sink = Sink()
    proc = TailSamplingProcessor(ctx, cfg, sink, clock=lambda: clock[0])
    parsed = [Traces.parse(r) for r in reqs]
    cpu = time.process_time()
    for i, t in enumerate(parsed):
        clock[0] = i * 0.05  # 20 requests/s of virtual time: 10,000 spans/s
        await proc.consume(t)
        await proc.tick(clock[0])
    clock[0] += 30
    await proc.tick(clock[0])
    cpu = time.process_time() - cpu
    n = len(reqs) * TRACES_PER_REQUEST * SPANS_PER_TRACE
    return cpu / n * 1e6, n / cpu, sink.spans


async def spanmetrics_in_process(reqs: list[bytes], dims: list[str]) -> float:
    """CPU microseconds per span of the spanmetrics connector (default config, plus `dims` dimensions)."""
    from edgetel.component.ids import Signal
    from edgetel.connectors.spanmetrics.config import SpanMetricsConfig
    from edgetel.connectors.spanmetrics.connector import SpanMetricsConnector

    p = Problems("bench")
    cfg = decode(SpanMetricsConfig, {"dimensions": [{"name": d} for d in dims]}, p)
    assert not p.errors
    ctx = CreateContext(id=ComponentID("spanmetrics"), kind=Kind.CONNECTOR, logger=logging.getLogger("b"),
                        metrics=Registry(), sockets=SocketPool(), lifecycle=Lifecycle())  # fmt: skip
    conn = SpanMetricsConnector(ctx, cfg, {Signal.METRICS: Sink()})
    parsed = [Traces.parse(r) for r in reqs]
    cpu = time.process_time()
    for t in parsed:
        await conn.consume(t)
    return (time.process_time() - cpu) / (len(reqs) * TRACES_PER_REQUEST * SPANS_PER_TRACE) * 1e6


def paced(export: Any, reqs: list[bytes], cpu: Any, measure_last: float) -> tuple[float, float]:
    """Send `reqs` at 20 requests (10,000 spans) per second; (spans/s sent, agent CPU share over the last
    `measure_last` seconds)."""
    interval = 1.0 / 20
    start = time.monotonic()
    c0 = w0 = 0.0
    for i, body in enumerate(reqs):
        delay = start + i * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        export(body, timeout=10)
        if c0 == 0.0 and time.monotonic() - start >= len(reqs) * interval - measure_last:
            c0, w0 = cpu(), time.monotonic()
    c1, w1 = cpu(), time.monotonic()
    return len(reqs) * 500 / (w1 - start), (c1 - c0) / (w1 - w0)


PASSTHROUGH = "traces: {receivers: [otlp], exporters: [otlp]}"
# The default agent.yaml's layout without redaction: every span to spanmetrics, sampled traces to the backend.
WITH_SPANMETRICS = """traces/all: {receivers: [otlp], exporters: [spanmetrics]}
    traces: {receivers: [otlp], processors: [tail_sampling], exporters: [otlp]}
    metrics: {receivers: [spanmetrics], exporters: [otlp]}"""


def paced_share(reqs: list[bytes], pipelines: str) -> float:
    """Agent CPU share at 10,000 spans/s with `pipelines` (PASSTHROUGH: the receiver/exporter cost)."""
    import grpc
    import psutil

    from agentproc import AgentProcess  # type: ignore[import-not-found]
    from support.otlp_server import OTLPServer  # type: ignore[import-not-found]

    with OTLPServer(http_enabled=False) as backend:
        port = _free_port()
        components = "" if pipelines == PASSTHROUGH else """
processors:
  tail_sampling:
    decision_wait: 10s
    policies:
      - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
      - {name: slow, type: latency_percentile, latency_percentile: {percentile: 99}}
      - {name: random, type: probabilistic, probabilistic: {sampling_percentage: 1}}
connectors:
  spanmetrics: {}"""
        config = f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{port}", max_recv_msg_size_mib: 16}}}}}}{components}
exporters:
  otlp: {{endpoint: "{backend.endpoint}", tls: {{insecure: true}}}}
service:
  pipelines:
    {pipelines}
  admin: {{endpoint: "{{admin}}"}}
"""
        with AgentProcess(config) as agent:
            ps = psutil.Process(agent.proc.pid)
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            _, share = paced(export, reqs, lambda: float(sum(ps.cpu_times()[:2])), 8.0)
            channel.close()
            agent.stop()
    return share


def agent_phase(reqs_paced: list[bytes], reqs_max: list[bytes], seconds_paced: float, seconds_max: float) -> dict[
        str, float]:  # fmt: skip
    import grpc
    import psutil

    from agentproc import AgentProcess, wait_for
    from support.otlp_server import OTLPServer

    out: dict[str, float] = {}
    with OTLPServer(http_enabled=False) as backend:
        port = _free_port()
        config = f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{port}", max_recv_msg_size_mib: 16}}
processors:
  tail_sampling:
    decision_wait: 10s
    root_grace: 10s
    policies:
      - {{name: errors, type: status_code, status_code: {{status_codes: [ERROR]}}}}
      - {{name: slow, type: latency_percentile, latency_percentile: {{percentile: 99}}}}
      - {{name: random, type: probabilistic, probabilistic: {{sampling_percentage: 1}}}}
exporters:
  otlp:
    endpoint: "{backend.endpoint}"
    tls: {{insecure: true}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [tail_sampling], exporters: [otlp]}}
  admin: {{endpoint: "{{admin}}"}}
"""
        with AgentProcess(config) as agent:
            assert agent.proc is not None
            ps = psutil.Process(agent.proc.pid)
            time.sleep(1.0)
            idle_rss = ps.memory_info().rss
            out["idle RSS MiB"] = idle_rss / 2**20
            channel = grpc.insecure_channel(f"127.0.0.1:{port}",
                                            options=[("grpc.max_send_message_length", 64 << 20)])  # fmt: skip
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")

            def cpu() -> float:
                t = ps.cpu_times()
                return float(t.user + t.system)

            # a. paced: 20 requests of 500 spans per second
            rate, share = paced(export, reqs_paced, cpu, 10.0)
            out["paced spans/s"] = rate
            out["CPU % of a core at 10k spans/s"] = 100.0 * share
            held = agent.metric("edgetel_tailsampling_spans_held", processor="tail_sampling", pipeline="traces")
            rss = ps.memory_info().rss
            out["spans held"] = held
            out["RSS MiB with 10s held"] = rss / 2**20
            out["RSS bytes per held span"] = (rss - idle_rss) / max(1.0, held)
            out["accounted bytes per held span"] = agent.metric(
                "edgetel_tailsampling_bytes_held", processor="tail_sampling", pipeline="traces"
            ) / max(1.0, held)

            # b. max: 8 requests in flight, then until every trace is decided (decisions are part of the cost)
            def held() -> float:
                return float(agent.metric("edgetel_tailsampling_spans_held", processor="tail_sampling",
                                          pipeline="traces"))  # fmt: skip

            wait_for(lambda: held() == 0, timeout=40)
            received0 = agent.metric("edgetel_tailsampling_spans_received_total", processor="tail_sampling",
                                     pipeline="traces")  # fmt: skip
            c0, w0 = cpu(), time.monotonic()
            futures: list[grpc.Future] = []
            sent = 0
            for body in reqs_max:
                if time.monotonic() - w0 > seconds_max:
                    break
                futures.append(export.future(body, timeout=30))
                if len(futures) >= 8:
                    futures.pop(0).result()
                sent += 500
            for f in futures:
                f.result()
            w1 = time.monotonic()
            wait_for(lambda: held() == 0, timeout=60)
            c1 = cpu()
            received = agent.metric("edgetel_tailsampling_spans_received_total", processor="tail_sampling",
                                    pipeline="traces") - received0  # fmt: skip
            out["max: spans/s (wall, sharing 2 cores with the load generator)"] = received / (w1 - w0)
            out["max: agent CPU-seconds (intake and all decisions)"] = c1 - c0
            out["max: spans per agent CPU-second"] = received / max(1e-9, c1 - c0)
            channel.close()
            wait_for(lambda: backend.spans() > 0, timeout=30)
            out["spans delivered downstream"] = backend.spans()
            agent.stop()
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter phases")
    ap.add_argument("--in-process-only", action="store_true")
    args = ap.parse_args()
    paced_s = 15.0 if args.quick else 25.0
    max_s = 5.0 if args.quick else 10.0
    t0 = time.perf_counter()
    n_paced = int(paced_s * 20)
    reqs = requests(n_paced + 600, seed=os.getpid())
    print(f"generated {len(reqs)} requests of 500 spans in {time.perf_counter() - t0:.1f}s")
    us, rate, kept = asyncio.run(in_process(reqs[:200]))
    print("\nin-process processor (intake + decisions, default policies)")
    print(f"  {us:.2f} us CPU per span = {rate:,.0f} spans per CPU-second; kept {kept} of {200 * 500} spans")
    for dims in ([], ["http.route"]):
        us = asyncio.run(spanmetrics_in_process(reqs[:200], dims))
        print(f"spanmetrics connector, dimensions {dims}: {us:.2f} us CPU per span")
    if args.in_process_only:
        return
    res = agent_phase(reqs[:n_paced], reqs[n_paced:], paced_s, max_s)
    res["CPU % of a core at 10k spans/s without tail_sampling"] = 100.0 * paced_share(
        reqs[n_paced : n_paced + 240], PASSTHROUGH)
    res["CPU % of a core at 10k spans/s, tail_sampling + spanmetrics"] = 100.0 * paced_share(
        reqs[n_paced : n_paced + 240], WITH_SPANMETRICS)
    print("\nreal agent: OTLP/gRPC in -> tail_sampling -> OTLP/gRPC out")
    for k, v in res.items():
        print(f"  {k:62s} {v:>14,.1f}")


if __name__ == "__main__":
    main()
