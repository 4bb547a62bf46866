"""End to end: `edgetel run` (subprocess) with hostmetrics in node_exporter naming -> batch ->
prometheusremotewrite -> a real Prometheus, queried back with PromQL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.agentproc import AgentProcess
from tests.support.prometheus import Prometheus

pytestmark = [pytest.mark.peer, pytest.mark.slow]

CONFIG = """
receivers:
  hostmetrics:
    collection_interval: 500ms
    initial_delay: 0s
    metric_names: node_exporter
    scrapers: {{memory: {{}}, cpu: {{}}, load: {{}}}}
processors:
  batch: {{timeout: 200ms}}
exporters:
  prometheusremotewrite:
    endpoint: {endpoint}
    external_labels: {{cluster: edge}}
service:
  pipelines:
    metrics: {{receivers: [hostmetrics], processors: [batch], exporters: [prometheusremotewrite]}}
  admin: {{endpoint: "{{admin}}"}}
"""


def test_hostmetrics_to_prometheus(tmp_path: Path, prometheus: Prometheus) -> None:
    config = CONFIG.format(endpoint=prometheus.write_url)
    with AgentProcess(config, workdir=tmp_path) as agent:
        deadline = time.monotonic() + 20
        mem = None
        while time.monotonic() < deadline:
            mem = prometheus.query("node_memory_MemTotal_bytes")
            if mem and prometheus.query("node_cpu_seconds_total"):
                break
            time.sleep(0.2)
        assert mem, agent.logs()
        sent = agent.metric("edgetel_exporter_prw_samples_sent_total", exporter="prometheusremotewrite")
        assert sent > 0
        assert (
            agent.metric(
                "edgetel_exporter_prw_samples_dropped_total", exporter="prometheusremotewrite", reason="rejected"
            )
            == 0
        )
    labels = mem[0]["metric"]
    assert labels["__name__"] == "node_memory_MemTotal_bytes" and labels["cluster"] == "edge"
    total = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0]) * 1024
    assert float(mem[0]["value"][1]) == total
    cpu = prometheus.query("node_cpu_seconds_total")
    assert {s["metric"].get("mode") for s in cpu} >= {"user", "system", "idle"}
    assert prometheus.query("node_load1")
