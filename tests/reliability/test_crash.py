"""Case 2: `kill -9` under steady load, then a restart: everything the agent acknowledged more than
`sync_interval` before the kill is delivered, counted at the receiving end (a test OTLP server for traces, a
real Prometheus for metrics). Repeats of the in-flight window are allowed (at least once), losses are not."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from edgetel.buffer.check import check_buffer
from tests.agentproc import AgentProcess, free_port, wait_for
from tests.reliability._agents import GaugeLoad, GrpcTraceLoad, env_seconds, span_ids_of
from tests.support.otlp_server import OTLPServer, Reply
from tests.support.prometheus import Prometheus, require_prometheus

SYNC = 0.2  # sync_interval of the buffers below, seconds
LOAD_SECONDS = env_seconds("EDGETEL_CRASH_LOAD_SECONDS", 3.0)  # load before the kill

TRACES = """
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{grpc}"}}}}}}
exporters:
  otlp:
    endpoint: "{backend}"
    tls: {{insecure: true}}
    retry_on_failure: {{initial_interval: 50ms, max_interval: 300ms}}
    sending_queue: {{num_consumers: 1}}
    buffer: {{type: disk, sync_interval: 200ms}}
service:
  admin: {{endpoint: "{{admin}}"}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
"""

METRICS = """
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{http}"}}}}}}
exporters:
  prometheusremotewrite:
    endpoint: "{write_url}"
    send_metadata: false
    target_info: false
    retry_on_failure: {{initial_interval: 50ms, max_interval: 300ms}}
    sending_queue: {{num_consumers: 1}}
    buffer: {{type: disk, sync_interval: 200ms}}
service:
  admin: {{endpoint: "{{admin}}"}}
  pipelines:
    metrics: {{receivers: [otlp], exporters: [prometheusremotewrite]}}
"""


def kill_9(agent: AgentProcess) -> float:
    assert agent.proc is not None
    agent.send(signal.SIGKILL)
    agent.proc.wait(10)
    agent._log.close()
    return time.monotonic()


@pytest.mark.timeout(90)
def test_kill_9_under_trace_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    grpc_port = free_port()
    with OTLPServer(http_enabled=False) as backend:
        # A slow backend: a backlog sits in the buffer when the agent is killed.
        backend.script(*[Reply(delay=0.1) for _ in range(40)])
        agent = AgentProcess(TRACES.format(grpc=grpc_port, backend=backend.endpoint), workdir=tmp_path)
        load = GrpcTraceLoad(f"127.0.0.1:{grpc_port}", spans=10, interval=0.02)
        try:
            agent.start()
            load.start()
            time.sleep(LOAD_SECONDS)
            backlog = agent.metric("edgetel_buffer_records", exporter="otlp")
            killed_at = kill_9(agent)
            time.sleep(1.0)  # the load keeps going against the dead agent
            report = check_buffer(tmp_path / "state" / "buffers" / "otlp")
            assert report.ok, report.line()
            agent.start()
            time.sleep(1.5)
            load.stop()
            promised = load.acked_ids(before=killed_at - SYNC)
            acked = load.acked_ids()
            wait_for(lambda: acked <= set(span_ids_of(backend.received)), timeout=30)
            got = span_ids_of(backend.received)
            assert promised <= set(got)  # the promise
            assert acked <= set(got)  # and, a kill -9 not being a power loss, everything acknowledged
            assert set(got) <= load.acked_ids() | _tried_ids(load)  # nothing invented
            wait_for(lambda: agent.metric("edgetel_buffer_records", exporter="otlp") == 0, timeout=15)
            dupes = sum(c - 1 for c in got.values())
            print(f"\ntraces: acked={len(acked)} spans ({len(load.acked)} requests), backlog at kill={backlog:.0f} "
                  f"records, on disk after kill={report.records}, delivered unique={len(got)}, repeats={dupes}, "
                  f"lost=0, client errors={dict(load.errors)}")  # fmt: skip
            assert agent.stop() == 0
        finally:
            load.stopped.set()
            agent.kill()


def _tried_ids(load: GrpcTraceLoad) -> set[int]:
    """Ids of requests that failed at the client: the agent may have kept them (answer lost in the kill)."""
    from tests.reliability._agents import span_id

    return {span_id(load.batch0 + n, i) for n in range(load.tried) if n not in load.acked for i in range(load.spans)}


@pytest.mark.timeout(120)
def test_kill_9_under_metric_load_prometheus_has_every_acknowledged_sample(tmp_path: Path) -> None:
    require_prometheus()
    (tmp_path / "prom").mkdir()
    prom = Prometheus(tmp_path / "prom").start()
    http_port = free_port()
    (tmp_path / "agent").mkdir()
    agent = AgentProcess(METRICS.format(http=http_port, write_url=prom.write_url), workdir=tmp_path / "agent")
    load = GaugeLoad(f"http://127.0.0.1:{http_port}/v1/metrics", "crash_seq", series=10, interval=0.02)
    try:
        agent.start()
        load.start()
        time.sleep(LOAD_SECONDS)
        killed_at = kill_9(agent)
        time.sleep(1.0)
        agent.start()
        time.sleep(1.5)
        load.stop()
        promised = {n for n, t in load.acked.items() if t < killed_at - SYNC}
        acked = set(load.acked)

        def values() -> set[int]:
            result = prom.query('crash_seq{s="0"}[10m]')
            return {int(float(v)) for item in result for _, v in item["values"]}

        wait_for(lambda: acked <= values(), timeout=30, interval=0.5)
        got = values()
        assert promised <= got and acked <= got
        assert got <= set(range(load.tried))
        counts = [float(r["value"][1]) for r in prom.query("count_over_time(crash_seq[10m])")]
        assert len(counts) == 10 and all(c == len(got) for c in counts), counts
        rejected = agent.metric("edgetel_exporter_send_failed_metric_points_total", exporter="prometheusremotewrite")
        print(
            f"\nmetrics: acked={len(acked)} requests x 10 series, in Prometheus={len(got)} x 10, lost=0, "
            f"resent samples refused as out-of-order after restart={rejected:.0f}, client errors={dict(load.errors)}"
        )
        assert agent.stop() == 0
    finally:
        load.stopped.set()
        agent.kill()
        prom.stop()
