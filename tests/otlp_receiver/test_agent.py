"""End to end: `edgetel run` as a subprocess, OTLP in from the SDK (gRPC and HTTP), batch, file exporter out;
a SIGHUP reload in the middle keeps both listeners answering."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.sdk.metrics.export import MetricExportResult
from opentelemetry.sdk.trace.export import SpanExportResult

from edgetel.component.ids import Signal
from edgetel.pdata import Metrics, Traces, otlpjson
from tests.otlp_receiver import sdkdata

CONFIG = """
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
      http: {{endpoint: "127.0.0.1:{http}", max_connections: {maxconn}}}
processors:
  batch: {{timeout: 100ms}}
exporters:
  file: {{path: "{out}", flush_interval: 100ms}}
service:
  admin: {{enabled: false}}
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [file]}}
    metrics: {{receivers: [otlp], processors: [batch], exporters: [file]}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "agent exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"port {port} never opened")


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, int, int, Path]]:
    gport, hport = free_port(), free_port()
    out = tmp_path / "out.jsonl"
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(CONFIG.format(grpc=gport, http=hport, out=out, maxconn=64))
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgetel", "run", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")},
    )
    try:
        wait_port(gport, proc)
        wait_port(hport, proc)
        yield proc, cfg, gport, hport, out
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr and not proc.stderr.closed:
            proc.stderr.close()


def read_out(out: Path, want_spans: int, want_points: int, timeout: float = 10) -> tuple[list[Traces], list[Metrics]]:
    end = time.monotonic() + timeout
    while True:
        traces: list[Traces] = []
        metrics: list[Metrics] = []
        if out.exists():
            for line in out.read_bytes().splitlines():
                obj = line.strip()
                if not obj:
                    continue
                if b'"resourceSpans"' in obj:
                    b = otlpjson.decode(obj, Signal.TRACES)
                    assert isinstance(b, Traces)
                    traces.append(b)
                else:
                    m = otlpjson.decode(obj, Signal.METRICS)
                    assert isinstance(m, Metrics)
                    metrics.append(m)
        spans = sum(b.item_count() for b in traces)
        points = sum(b.item_count() for b in metrics)
        if (spans >= want_spans and points >= want_points) or time.monotonic() > end:
            return traces, metrics
        time.sleep(0.1)


def spans_of(batches: list[Traces]) -> dict[bytes, object]:
    return {s.span_id: s for b in batches for rs in b.request.resource_spans for ss in rs.scope_spans for s in ss.spans}


def test_sdk_to_file_through_the_agent_with_a_reload(
    agent: tuple[subprocess.Popen[bytes], Path, int, int, Path],
) -> None:
    proc, cfg, gport, hport, out = agent
    spans = sdkdata.make_spans()
    exp = GrpcSpanExporter(endpoint=f"127.0.0.1:{gport}", insecure=True, timeout=5)
    assert exp.export(spans) == SpanExportResult.SUCCESS
    data = sdkdata.make_metrics()
    mexp = HttpMetricExporter(endpoint=f"http://127.0.0.1:{hport}/v1/metrics", timeout=5)
    assert mexp.export(data) == MetricExportResult.SUCCESS

    # reload with a changed receiver setting: the ports stay open and answer throughout
    cfg.write_text(cfg.read_text().replace("max_connections: 64", "max_connections: 32"))
    proc.send_signal(signal.SIGHUP)
    spans2 = sdkdata.make_spans()
    for _ in range(20):  # keep sending while the reload happens
        assert exp.export(spans2[:1]) == SpanExportResult.SUCCESS
        time.sleep(0.05)
    assert exp.export(spans2) == SpanExportResult.SUCCESS
    exp.shutdown()
    mexp.shutdown()
    assert proc.poll() is None

    expected = sdkdata.expected_traces(spans)
    traces, metrics = read_out(out, len(spans) + 20 + len(spans2), 1)
    got = spans_of(traces)
    assert len(got) == len(spans) + len(spans2)  # spans2[0] was sent 21 times: same span id
    assert sum(b.item_count() for b in traces) == len(spans) + 20 + len(spans2)
    for rs in expected.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                assert got[s.span_id] == s  # every field intact through receiver, batch and file exporter
    proc.terminate()
    _, err = proc.communicate(timeout=20)
    assert b"configuration reloaded" in err, err.decode()
    assert b"edgetel stopped" in err
    want_m = sdkdata.expected_metrics(data)
    assert (
        any(m.request == want_m for m in metrics)
        or sum(m.item_count() for m in metrics) == Metrics(want_m).item_count()
    )
