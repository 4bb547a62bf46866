"""The real agent process: start, ready, host metrics written, SIGHUP reload, SIGTERM drain, exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from edgetel.component.ids import Signal
from edgetel.pdata import otlpjson
from tests.agentproc import AgentProcess, wait_for

CONFIG = """
receivers:
  hostmetrics:
    collection_interval: {interval}
    initial_delay: 0s
    scrapers: {{cpu: {{}}, memory: {{}}}}
processors:
  batch: {{timeout: 100ms}}
exporters:
  file: {{path: "{out}"}}
service:
  pipelines:
    metrics: {{receivers: [hostmetrics], processors: [batch], exporters: [file]}}
  admin: {{endpoint: "{{admin}}"}}
  logs: {{format: json}}
"""


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


def test_runs_writes_host_metrics_reloads_and_drains(tmp_path: Path) -> None:
    out = tmp_path / "metrics.jsonl"
    with AgentProcess(CONFIG.format(interval="200ms", out=out), workdir=tmp_path) as agent:
        assert agent.get("/healthz")[0] == 200
        wait_for(lambda: len(lines_of(out)) >= 2)
        names = {m.name for line in lines_of(out)[:2]
                 for rm in otlpjson.decode(line, Signal.METRICS).request.resource_metrics  # type: ignore[union-attr]
                 for sm in rm.scope_metrics for m in sm.metrics}
        assert {"system.cpu.time", "system.memory.usage"} <= names
        assert agent.metric("edgetel_exporter_sent_metric_points_total", exporter="file") > 0

        # An invalid file is refused and the running pipelines keep going.
        good = agent.config_path.read_text()
        agent.config_path.write_text(good.replace("collection_interval: 200ms", "collection_interval: soon"))
        agent.send(signal.SIGHUP)
        wait_for(lambda: agent.metric("edgetel_config_reloads_total", result="invalid") == 1)
        before = len(lines_of(out))
        wait_for(lambda: len(lines_of(out)) > before + 1)
        assert "the new configuration is invalid" in agent.logs()
        assert "collection_interval: invalid duration 'soon'" in agent.logs()

        # A valid one is swapped in.
        agent.config_path.write_text(good.replace("scrapers: {cpu: {}, memory: {}}", "scrapers: {load: {}}"))
        agent.send(signal.SIGHUP)
        wait_for(lambda: agent.metric("edgetel_config_reloads_total", result="ok") == 1)
        assert agent.get("/readyz")[0] == 200

        def has_load() -> bool:
            return any(b"system.cpu.load_average.1m" in line for line in lines_of(out)[-3:])

        wait_for(has_load)
        assert agent.stop(signal.SIGTERM) == 0
    logs = [json.loads(line) for line in agent.logs().splitlines() if line.startswith("{")]
    msgs = [entry["msg"] for entry in logs]
    assert "edgetel started" in msgs and "configuration reloaded" in msgs and msgs[-1] == "edgetel stopped"


def test_sigterm_drains_what_is_batched(tmp_path: Path) -> None:
    out = tmp_path / "metrics.jsonl"
    cfg = CONFIG.format(interval="1h", out=out).replace("timeout: 100ms", "timeout: 1h, send_batch_size: 100000")
    with AgentProcess(cfg, workdir=tmp_path) as agent:
        # The single scrape sits in the batch processor (1h timeout); SIGTERM must flush it to the file.
        wait_for(lambda: agent.metric("edgetel_processor_batch_pending_items", processor="batch", pipeline="metrics") > 0)
        assert lines_of(out) == []
        assert agent.stop(signal.SIGTERM) == 0
    assert len(lines_of(out)) == 1


def test_invalid_config_refuses_to_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("receivers: {hostmetrics: {scrapers: {cpux: {}}}}\n")
    res = subprocess.run([sys.executable, "-m", "edgetel", "run", "--config", str(bad)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2
    assert f"{bad}:1: receivers.hostmetrics.scrapers.cpux" in res.stderr


def test_second_sigint_forces_exit(tmp_path: Path) -> None:
    out = tmp_path / "m.jsonl"
    cfg = CONFIG.format(interval="1h", out=out).replace(
        'file: {path: "' + str(out) + '"}',
        'file: {path: "/proc/nope/x.jsonl", retry_on_failure: {initial_interval: 1s, max_elapsed_time: 0s}}',
    ).replace("timeout: 100ms", "timeout: 10ms").replace("admin: {endpoint", "shutdown_timeout: 60s\n  admin: {endpoint")
    with AgentProcess(cfg, workdir=tmp_path) as agent:
        wait_for(lambda: agent.metric("edgetel_exporter_retries_total", exporter="file") > 0)
        agent.send(signal.SIGINT)  # drains: the exporter keeps retrying for up to 60s
        time.sleep(0.5)
        assert agent.proc is not None and agent.proc.poll() is None
        agent.send(signal.SIGINT)
        assert agent.proc.wait(10) == 130
