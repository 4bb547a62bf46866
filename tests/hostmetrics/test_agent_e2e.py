"""End to end: `edgetel run` with hostmetrics -> batch -> file, read back as OTLP JSON."""

from __future__ import annotations

import time
from pathlib import Path

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from tests.agentproc import AgentProcess

CONFIG = """
receivers:
  hostmetrics:
    collection_interval: 200ms
    initial_delay: 0s
    metric_names: {naming}
processors:
  batch: {{timeout: 100ms}}
exporters:
  file: {{path: {path}}}
service:
  pipelines:
    metrics: {{receivers: [hostmetrics], processors: [batch], exporters: [file]}}
  admin: {{endpoint: "{{admin}}"}}
"""


def _run(tmp_path: Path, naming: str) -> set[str]:
    out = tmp_path / "out.jsonl"
    with AgentProcess(CONFIG.format(naming=naming, path=out), workdir=tmp_path) as agent:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if out.exists() and len(out.read_text().splitlines()) >= 2:
                break
            time.sleep(0.1)
        accepted = agent.metric(
            "edgetel_receiver_accepted_metric_points_total", receiver="hostmetrics", transport="scrape"
        )
        assert accepted > 0
    names: set[str] = set()
    for line in out.read_text().splitlines():
        req = json_format.Parse(line, ExportMetricsServiceRequest())
        names |= {m.name for rm in req.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    return names


def test_otel_names_to_file(tmp_path: Path) -> None:
    names = _run(tmp_path, "otel")
    assert {"system.cpu.time", "system.memory.usage", "system.network.io", "system.uptime"} <= names


def test_node_exporter_names_to_file(tmp_path: Path) -> None:
    names = _run(tmp_path, "node_exporter")
    assert {"node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_load1"} <= names
