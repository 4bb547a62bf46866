"""Case 3: both backends (a real Prometheus, a test OTLP server) down for a while under steady load, then back:
the disk buffers drain completely, in order, and nothing is rejected.

CI holds the outage for 60 s (`EDGETEL_OUTAGE_SECONDS` changes it); the `slow` case holds it for 5 minutes
(`EDGETEL_SLOW_TESTS=1` or `-m slow`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.agentproc import AgentProcess, free_port, wait_for
from tests.reliability._agents import (
    GaugeLoad,
    GrpcTraceLoad,
    env_seconds,
    prometheus_self_metric,
    run_slow,
    span_ids_of,
)
from tests.support.otlp_server import OTLPServer
from tests.support.prometheus import Prometheus, require_prometheus

OUTAGE = env_seconds("EDGETEL_OUTAGE_SECONDS", 60.0)
LONG_OUTAGE = 300

CONFIG = """
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
      http: {{endpoint: "127.0.0.1:{http}"}}
exporters:
  otlp:
    endpoint: "127.0.0.1:{otlp_port}"
    tls: {{insecure: true}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 1s}}
    sending_queue: {{num_consumers: 1}}
    buffer: {{type: disk, sync_interval: 1s}}
  prometheusremotewrite:
    endpoint: "{write_url}"
    send_metadata: false
    target_info: false
    retry_on_failure: {{initial_interval: 100ms, max_interval: 1s}}
    sending_queue: {{num_consumers: 1}}
    buffer: {{type: disk, sync_interval: 1s}}
service:
  admin: {{endpoint: "{{admin}}"}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
    metrics: {{receivers: [otlp], exporters: [prometheusremotewrite]}}
"""


def first_seen_order(requests: list[object]) -> list[int]:
    """Batch numbers (trace ids) in the order the backend first received them."""
    seen: dict[int, None] = {}
    for r in requests:
        for rs in r.message.resource_spans:  # type: ignore[attr-defined]
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    seen.setdefault(int.from_bytes(sp.trace_id, "big"), None)
    return list(seen)


@pytest.mark.timeout(int(OUTAGE) + 150)
def test_backend_outage_then_recovery_drains_everything_in_order(tmp_path: Path) -> None:
    outage_then_recovery(tmp_path, OUTAGE)


@pytest.mark.slow
@pytest.mark.timeout(LONG_OUTAGE + 200)
def test_backend_outage_of_five_minutes(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    run_slow(request.config)
    outage_then_recovery(tmp_path, LONG_OUTAGE)


def outage_then_recovery(tmp_path: Path, outage: float) -> None:
    require_prometheus()
    (tmp_path / "prom").mkdir()
    (tmp_path / "agent").mkdir()
    prom = Prometheus(tmp_path / "prom").start()
    grpc_port, http_port, otlp_port = free_port(), free_port(), free_port()
    backend = OTLPServer(http_enabled=False, grpc_port=otlp_port).start_in_thread()
    config = CONFIG.format(grpc=grpc_port, http=http_port, otlp_port=otlp_port, write_url=prom.write_url)
    agent = AgentProcess(config, workdir=tmp_path / "agent")
    traces = GrpcTraceLoad(f"127.0.0.1:{grpc_port}", spans=10, interval=0.05)
    metrics = GaugeLoad(f"http://127.0.0.1:{http_port}/v1/metrics", "outage_seq", series=10, interval=0.05)
    before: list[object] = []
    try:
        agent.start()
        traces.start()
        metrics.start()
        time.sleep(3)
        bad_writes = prometheus_self_metric(prom.url, "prometheus_http_requests_total", handler="/api/v1/write",
                                            code="400")  # fmt: skip
        prom.stop()
        backend.stop_thread()
        outage_started = time.monotonic()
        peak = {"otlp": 0.0, "prometheusremotewrite": 0.0}
        while time.monotonic() - outage_started < outage:  # bounded
            assert agent.get("/healthz")[0] == 200
            for name, most in peak.items():
                peak[name] = max(most, agent.metric("edgetel_buffer_records", exporter=name))
            time.sleep(1)
        prom.start()
        before = list(backend.received)  # what the first server instance got
        backend = OTLPServer(http_enabled=False, grpc_port=otlp_port).start_in_thread()
        recovered_at = time.monotonic()
        time.sleep(2)
        traces.stop()
        metrics.stop()

        def drained() -> bool:
            return all(agent.metric("edgetel_buffer_records", exporter=n) == 0 for n in peak)

        wait_for(drained, timeout=90, interval=0.5)
        drain_seconds = time.monotonic() - recovered_at
        acked_spans = traces.acked_ids()
        wait_for(lambda: acked_spans <= set(span_ids_of(before + backend.received)), timeout=30, interval=0.5)

        # Metrics: every acknowledged sample is in Prometheus, none was refused (400 / out of order).
        def values() -> set[int]:
            result = prom.query('outage_seq{s="0"}[30m]')
            return {int(float(v)) for item in result for _, v in item["values"]}

        wait_for(lambda: set(metrics.acked) <= values(), timeout=30, interval=0.5)
        counts = [float(r["value"][1]) for r in prom.query("count_over_time(outage_seq[30m])")]
        assert len(counts) == 10 and all(c == len(values()) for c in counts), counts
        assert values() <= set(range(metrics.tried))
        bad_writes += prometheus_self_metric(prom.url, "prometheus_http_requests_total", handler="/api/v1/write",
                                             code="400")  # fmt: skip
        ooo = prometheus_self_metric(prom.url, "prometheus_tsdb_out_of_order_samples_total")
        assert bad_writes == 0 and ooo == 0
        for name, unit in (("otlp", "spans"), ("prometheusremotewrite", "metric_points")):
            assert agent.metric(f"edgetel_exporter_send_failed_{unit}_total", exporter=name) == 0
            assert agent.metric("edgetel_buffer_dropped_records_total", exporter=name, reason="full") == 0

        # Traces: in order (one consumer), every acknowledged span present.
        order = first_seen_order(before + backend.received)
        assert order == sorted(order)
        got = span_ids_of(before + backend.received)
        print(
            f"\noutage {outage:.0f}s: traces acked={len(acked_spans)} spans delivered={len(got)} "
            f"repeats={sum(got.values()) - len(got)}; metrics acked={len(metrics.acked)}x10 samples, in "
            f"Prometheus={len(values())}x10; peak backlog records={peak}; drained in {drain_seconds:.1f}s; "
            f"lost=0, 400s=0, out-of-order=0; client errors={dict(traces.errors)} {dict(metrics.errors)}"
        )
        assert not traces.errors and not metrics.errors  # the agent kept accepting during the outage
        assert agent.stop() == 0
    finally:
        traces.stopped.set()
        metrics.stopped.set()
        agent.kill()
        backend.stop_thread()
        prom.stop()
