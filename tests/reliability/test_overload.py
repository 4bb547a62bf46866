"""Case 1, overload: OTLP/gRPC, OTLP/HTTP and StatsD at once, far above what the agent can take, for a bounded
time, into memory_limiter -> batch -> an exporter whose backend is down (so everything accepted stays in memory).

Promises checked: the agent stays up (/healthz 200 throughout), its RSS (sampled from /proc every 50 ms) stays
under `limit_mib`, clients get retry-later answers (gRPC UNAVAILABLE, HTTP 503 + Retry-After), and every item is
accounted for: per protocol, what the clients sent = what the agent counted accepted + refused; StatsD datagrams
sent = received + dropped by the kernel (/proc/net/udp). When the backend comes back the agent drains and accepts
again. The load lasts EDGETEL_OVERLOAD_SECONDS (default 30 s; the issue's 60 s with EDGETEL_OVERLOAD_SECONDS=60).
The figures are printed (run with -s to see them).

Load generators run in their own processes: `python -c` calling `generate()` below.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgetel.component.errors import RetryableError
from edgetel.component.factory import CreateContext
from edgetel.component.ids import ComponentID, Kind
from edgetel.component.lifecycle import Lifecycle
from edgetel.config.types import Duration
from edgetel.pdata import Batch
from edgetel.pipeline.sockets import SocketPool
from edgetel.processors.memorylimiter import pressure
from edgetel.processors.memorylimiter.config import MemoryLimiterConfig
from edgetel.processors.memorylimiter.processor import MIB, MemoryLimiter, limits, read_rss
from edgetel.telemetry.selfmetrics import Registry
from tests.agentproc import AgentProcess, wait_for
from tests.helpers import make_metrics, make_traces
from tests.reliability.conftest import Watch, udp_drops

ROOT = Path(__file__).resolve().parents[2]
LOAD_SECONDS = float(os.environ.get("EDGETEL_OVERLOAD_SECONDS", "30"))
LIMIT_MIB = 150


# -- load generators (each runs in its own process) -------------------------------------------------------
def _span_request(spans: int, seq: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "overload"
    ss = rs.scope_spans.add()
    now = time.time_ns()
    for i in range(spans):
        sp = ss.spans.add(name="op", kind=2, start_time_unix_nano=now, end_time_unix_nano=now + 1000)
        sp.trace_id = seq.to_bytes(16, "big")
        sp.span_id = (i + 1).to_bytes(8, "big")
        sp.attributes.add(key="pad").value.string_value = "x" * 1000
    return bytes(req.SerializeToString())


def _gen_grpc(port: int, seconds: float, spans: int) -> dict[str, Any]:
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    body = trace_service_pb2.ExportTraceServiceRequest.FromString(_span_request(spans, 1))
    out: dict[str, Any] = {"ok": 0, "unavailable": 0, "other": 0, "retry_info": 0, "codes": {}}
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = trace_service_pb2_grpc.TraceServiceStub(ch)  # type: ignore[no-untyped-call]
        end = time.monotonic() + seconds
        window: list[Any] = []

        def settle(f: Any) -> None:
            try:
                f.result()
                out["ok"] += spans
            except grpc.RpcError as e:
                code = e.code().name
                out["codes"][code] = out["codes"].get(code, 0) + 1
                if e.code() == grpc.StatusCode.UNAVAILABLE:
                    out["unavailable"] += spans
                    md = dict(e.trailing_metadata() or ())
                    out["retry_info"] += "grpc-status-details-bin" in md
                else:
                    out["other"] += spans

        while time.monotonic() < end:
            window.append(stub.Export.future(body, timeout=20))
            if len(window) >= 32:
                settle(window.pop(0))
        for f in window:
            settle(f)
    return out


def _gen_http(port: int, seconds: float, spans: int, connections: int = 8) -> dict[str, Any]:
    import http.client
    import threading

    body = _span_request(spans, 2)
    out: dict[str, Any] = {"ok": 0, "unavailable": 0, "other": 0, "retry_after": 0, "codes": {}}
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def one_connection() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        while time.monotonic() < end:
            conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
            r = conn.getresponse()
            r.read()
            with lock:
                out["codes"][str(r.status)] = out["codes"].get(str(r.status), 0) + 1
                if r.status == 200:
                    out["ok"] += spans
                elif r.status in (503, 429):
                    out["unavailable"] += spans
                    out["retry_after"] += r.getheader("Retry-After") is not None
                else:
                    out["other"] += spans
            if (r.getheader("Connection") or "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        conn.close()

    threads = [threading.Thread(target=one_connection) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _gen_statsd(port: int, seconds: float, lines: int, packets_per_s: int = 10_000) -> dict[str, Any]:
    packet = "\n".join(f"overload.c{i % 50}:1|c|#k:v{i % 7}" for i in range(lines)).encode()
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        start = time.monotonic()
        end = start + seconds
        while (now := time.monotonic()) < end:
            if sent > (now - start) * packets_per_s:  # paced: the OTLP generators need CPU too
                time.sleep(0.005)
                continue
            for _ in range(50):
                s.sendto(packet, ("127.0.0.1", port))
            sent += 50
    return {"packets": sent, "lines": sent * lines}


def generate(kind: str, port: int, seconds: float, size: int) -> None:
    """Entry point of a load-generator process: prints its counts as JSON."""
    gens: dict[str, Callable[[int, float, int], dict[str, Any]]] = {
        "grpc": _gen_grpc, "http": _gen_http, "statsd": _gen_statsd,
    }  # fmt: skip
    print(json.dumps(gens[kind](port, seconds, size)))


def _spawn(kind: str, port: int, seconds: float, size: int) -> subprocess.Popen[str]:
    code = f"from tests.reliability.test_overload import generate; generate({kind!r}, {port}, {seconds}, {size})"
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)


# -- the end-to-end case ---------------------------------------------------------------------------------------
CONFIG = """
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
      http: {{endpoint: "127.0.0.1:{http}"}}
  statsd: {{endpoint: "127.0.0.1:{statsd}", aggregation_interval: 1s}}
processors:
  memory_limiter: {{limit_mib: {limit}, spike_limit_mib: 40, check_interval: 100ms}}
  batch: {{timeout: 200ms, send_batch_size: 2000, send_batch_max_size: 2000}}  # < 4 MiB per export
exporters:
  otlp:
    endpoint: "127.0.0.1:{dead}"
    tls: {{insecure: true}}
    retry_on_failure: {{initial_interval: 500ms, max_interval: 1s, max_elapsed_time: 0s}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [memory_limiter, batch], exporters: [otlp]}}
    metrics: {{receivers: [otlp, statsd], processors: [memory_limiter, batch], exporters: [otlp]}}
  admin: {{endpoint: "{{admin}}"}}
  logs: {{level: info}}
"""


def test_overload_sheds_predictably_and_counts_everything(ports: dict[str, int]) -> None:
    from tests.support.otlp_server import OTLPServer

    config = CONFIG.format(limit=LIMIT_MIB, **ports)
    with AgentProcess(config) as agent:
        assert agent.proc is not None
        watch = Watch(agent.proc.pid, agent.admin_port)
        watch.start()
        time.sleep(0.3)
        rss_idle = watch.max_rss
        t0 = time.monotonic()
        gens = {
            "grpc": _spawn("grpc", ports["grpc"], LOAD_SECONDS, 200),
            "http": _spawn("http", ports["http"], LOAD_SECONDS, 200),
            "statsd": _spawn("statsd", ports["statsd"], LOAD_SECONDS, 20),
        }
        results = {k: json.loads(p.communicate(timeout=LOAD_SECONDS + 60)[0]) for k, p in gens.items()}
        load_time = time.monotonic() - t0
        time.sleep(2.5)  # StatsD: the last datagrams read and flushed
        cpu = _cpu_seconds(agent.proc.pid)
        m = {k: agent.metric(_NAMES[k], **labels) for k, labels in _METRICS.items()}
        drops = udp_drops(ports["statsd"])
        max_rss_under_load = watch.max_rss

        # Recovery: the backend comes up, the queue drains, RSS falls below the soft limit, data is accepted again.
        with OTLPServer(grpc_port=ports["dead"], http_enabled=False) as backend:
            wait_for(lambda: agent.metric("edgetel_memory_limiter_state", processor="memory_limiter") == 0, 60, 0.5)
            # what was held drains first (on a busy machine RSS may touch the soft limit again meanwhile)
            drained = m["accepted_grpc"] + m["accepted_http"]
            wait_for(lambda: backend.spans() >= drained, 90, 0.5)
            after = _gen_grpc(ports["grpc"], 0.5, 10)
            held = drained + after["ok"]
            # Everything the agent accepted reaches the backend: nothing it took was lost.
            try:
                wait_for(lambda: backend.spans() >= held, 90, 0.5)
            except AssertionError:
                exp = [ln for ln in agent.get("/metrics")[1].splitlines() if "exporter" in ln and "#" not in ln]
                raise AssertionError(f"backend got {backend.spans()} of {held}: {exp}") from None
            recovered_spans = backend.spans()
        watch.stop()
        logs = agent.logs()
        agent.stop()

    g, h, s = results["grpc"], results["http"], results["statsd"]
    accepted = {t: m[f"accepted_{t}"] for t in ("grpc", "http")}
    report = {
        "load_seconds": round(load_time, 1),
        "offered_spans_per_s": round((g["ok"] + g["unavailable"] + h["ok"] + h["unavailable"]) / load_time),
        "accepted_spans_per_s": round((accepted["grpc"] + accepted["http"]) / load_time),
        "offered_statsd_lines_per_s": round(s["lines"] / load_time),
        "client": results,
        "agent": m,
        "udp_drops": drops,
        "agent_cpu_s": cpu,
        "rss_idle_mib": round(rss_idle / MIB, 1),
        "rss_max_mib": round(max_rss_under_load / MIB, 1),
        "rss_samples": watch.samples,
        "rss_mib_per_second": watch.timeline,
        "healthz_ok": watch.health_ok,
        "recovered_spans_delivered": recovered_spans,
        "after_recovery": after,
    }
    print("\noverload figures:", json.dumps(report, indent=1))
    assert not watch.health_failed, watch.health_failed
    assert watch.health_ok >= LOAD_SECONDS  # probed every 0.5 s
    assert max_rss_under_load < LIMIT_MIB * MIB, report
    # Retry-later answers reached the clients, with their retry hint.
    assert g["unavailable"] > 0 and g["retry_info"] > 0, g
    assert h["unavailable"] > 0 and h["retry_after"] > 0, h
    assert g["other"] == 0 and h["other"] == 0, (g, h)
    # Every span the clients sent is counted by the agent as accepted or refused.
    assert g["ok"] == accepted["grpc"] and g["unavailable"] == m["refused_grpc"], report
    assert h["ok"] == accepted["http"] and h["unavailable"] == m["refused_http"], report
    assert m["limiter_refused_spans"] > 0, report
    # StatsD: each datagram was read by the agent or dropped (and counted) by the kernel.
    assert s["packets"] == m["statsd_packets"] + drops, report
    assert m["statsd_lines"] == m["statsd_packets"] * 20, report
    # Afterwards the agent accepts again and what it held was delivered.
    # (RSS may still touch the soft limit for a moment while the new load is batched: most requests must pass)
    assert after["ok"] > 0 and after["ok"] > 4 * after["unavailable"] and after["other"] == 0, after
    assert recovered_spans == accepted["grpc"] + accepted["http"] + after["ok"], report
    assert m["limiter_refused_points"] == m["statsd_refused_points"], report  # only StatsD sends metrics
    assert "memory usage is above the soft limit; refusing data" in logs


_METRICS: dict[str, dict[str, str]] = {
    "accepted_grpc": {"receiver": "otlp", "transport": "grpc"},
    "refused_grpc": {"receiver": "otlp", "transport": "grpc"},
    "accepted_http": {"receiver": "otlp", "transport": "http"},
    "refused_http": {"receiver": "otlp", "transport": "http"},
    "statsd_packets": {"receiver": "statsd", "transport": "udp"},
    "statsd_lines": {"receiver": "statsd", "transport": "udp"},
    "statsd_refused_points": {"receiver": "statsd", "transport": "statsd"},
    "limiter_refused_spans": {"processor": "memory_limiter"},
    "limiter_refused_points": {"processor": "memory_limiter"},
    "limiter_sheds": {"processor": "memory_limiter"},
}
_NAMES = {
    "accepted_grpc": "edgetel_receiver_accepted_spans_total",
    "refused_grpc": "edgetel_receiver_refused_spans_total",
    "accepted_http": "edgetel_receiver_accepted_spans_total",
    "refused_http": "edgetel_receiver_refused_spans_total",
    "statsd_packets": "edgetel_statsd_packets_received_total",
    "statsd_lines": "edgetel_statsd_lines_received_total",
    "statsd_refused_points": "edgetel_receiver_refused_metric_points_total",
    "limiter_refused_spans": "edgetel_memory_limiter_refused_spans_total",
    "limiter_refused_points": "edgetel_memory_limiter_refused_metric_points_total",
    "limiter_sheds": "edgetel_memory_limiter_sheds_total",
}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


# -- the processor in-process ----------------------------------------------------------------------------------
class _Sink:
    mutates = False

    def __init__(self) -> None:
        self.items = 0

    async def consume(self, batch: Batch) -> None:
        self.items += batch.item_count()


def _limiter(registry: Registry, **kw: Any) -> tuple[MemoryLimiter, _Sink]:
    ctx = CreateContext(
        id=ComponentID("memory_limiter"), kind=Kind.PROCESSOR, logger=logging.getLogger("t"), metrics=registry,
        sockets=SocketPool(), lifecycle=Lifecycle(),
    )  # fmt: skip
    sink = _Sink()
    return MemoryLimiter(ctx, MemoryLimiterConfig(**kw), sink), sink


async def test_below_the_limit_data_passes() -> None:
    reg = Registry()
    ml, sink = _limiter(reg, limit_mib=1 << 20)
    await ml.start()
    await ml.consume(make_traces(spans=5))
    await ml.consume(make_metrics(points=4))
    await ml.shutdown()
    assert sink.items == 9
    assert reg.value("edgetel_memory_limiter_state", "memory_limiter") == 0
    assert reg.value("edgetel_memory_limiter_rss_bytes", "memory_limiter") == pytest.approx(read_rss(), rel=0.5)


async def test_above_the_limit_data_is_refused_counted_and_components_asked_to_shed() -> None:
    reg = Registry()
    shed_calls: list[int] = []

    def shedder() -> int:
        shed_calls.append(1)
        return 7

    def broken() -> int:
        raise RuntimeError("boom")

    unregister = [pressure.register(shedder), pressure.register(broken)]
    try:
        ml, sink = _limiter(reg, limit_mib=2, spike_limit_mib=1, check_interval=Duration(0.05))
        await ml.start()
        for batch in (make_traces(spans=3), make_metrics(points=2)):
            with pytest.raises(RetryableError) as e:
                await ml.consume(batch)
            assert e.value.retry_after == 1.0
        await asyncio.sleep(0.12)  # the watcher runs again: shedding is asked for again
        await ml.shutdown()
    finally:
        for u in unregister:
            u()
    assert sink.items == 0
    assert reg.value("edgetel_memory_limiter_refused_spans_total", "memory_limiter") == 3
    assert reg.value("edgetel_memory_limiter_refused_metric_points_total", "memory_limiter") == 2
    assert reg.value("edgetel_memory_limiter_state", "memory_limiter") == 2
    assert len(shed_calls) >= 2
    assert reg.value("edgetel_memory_limiter_shed_items_total", "memory_limiter") == 7 * len(shed_calls)
    assert reg.value("edgetel_memory_limiter_sheds_total", "memory_limiter") == len(shed_calls)
    assert pressure.registered() == 0


async def test_pipelines_sharing_an_id_share_one_watcher() -> None:
    reg = Registry()
    a, _ = _limiter(reg, limit_mib=1 << 20)
    b, _ = _limiter(reg, limit_mib=1 << 20)
    await a.start()
    await b.start()
    assert a.monitor is b.monitor and a.monitor.refs == 2
    await a.shutdown()
    assert b.monitor.refs == 1 and b.monitor._task is not None
    await b.shutdown()
    assert b.monitor._task is None


def test_limits_and_validation() -> None:
    assert limits(MemoryLimiterConfig(limit_mib=100)) == (100 * MIB, 80 * MIB)  # spike: 20% by default
    assert limits(MemoryLimiterConfig(limit_mib=100, spike_limit_mib=30)) == (100 * MIB, 70 * MIB)
    hard, soft = limits(MemoryLimiterConfig(limit_percentage=50, spike_limit_percentage=10))
    assert 0 < soft < hard
    problems = {
        "limit_mib": MemoryLimiterConfig(),
        "spike_limit_mib": MemoryLimiterConfig(limit_mib=10, spike_limit_mib=10),
        "limit_percentage": MemoryLimiterConfig(limit_mib=10, limit_percentage=50),
        "spike_limit_percentage": MemoryLimiterConfig(limit_percentage=20, spike_limit_percentage=30),
        "check_interval": MemoryLimiterConfig(limit_mib=10, check_interval=Duration(0)),
    }
    for key, cfg in problems.items():
        assert key in [k for k, _ in cfg.validate()], key
    assert list(MemoryLimiterConfig(limit_mib=10).validate()) == []


def test_config_file_without_a_limit_is_refused_with_its_line() -> None:
    from edgetel.config.model import load_string
    from edgetel.config.problems import ConfigError

    text = """
receivers: {otlp: {protocols: {http: {endpoint: "127.0.0.1:0"}}}}
processors:
  memory_limiter:
    check_interval: 1s
exporters: {debug: {}}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [memory_limiter], exporters: [debug]}
"""
    with pytest.raises(ConfigError) as e:
        load_string(text)
    assert "limit_mib" in str(e.value)
