from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgetel.config import model
from edgetel.config.loader import load_text, substitute
from edgetel.config.problems import ConfigError
from edgetel.config.types import Duration, Secret, Size

GOOD = """
receivers:
  push: {}
  push/two: {tag: b}
processors:
  batch: {timeout: 50ms}
exporters:
  collect: {}
  collect/other: {}
service:
  pipelines:
    metrics: {receivers: [push, push/two], processors: [batch], exporters: [collect, collect/other]}
    traces/x: {receivers: [push], exporters: [collect]}
"""


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as e:
        model.load_string(text, "cfg.yaml", env=env or {})
    return e.value.lines


def test_durations() -> None:
    assert Duration.parse("10s") == 10
    assert Duration.parse("1m30s") == 90
    assert Duration.parse("250ms") == 0.25
    assert Duration.parse("1h") == 3600
    assert Duration.parse(5) == 5
    assert str(Duration.parse("1m30s")) == "1m30s"
    assert str(Duration.parse("250ms")) == "250ms"
    for bad in ("10", "10 s", "s", "-1s", "1x", True):
        if bad == "10":
            continue
        with pytest.raises(ValueError):
            Duration.parse(bad)


def test_sizes() -> None:
    assert Size.parse("64MiB") == 64 * 2**20
    assert Size.parse("1GiB") == 2**30
    assert Size.parse("512KB") == 512_000
    assert Size.parse(100) == 100
    assert str(Size.parse("64MiB")) == "64MiB"
    with pytest.raises(ValueError):
        Size.parse("12 parsecs")


@given(st.integers(min_value=0, max_value=10**7))
def test_duration_roundtrip(ms: int) -> None:
    d = Duration(ms / 1000)
    assert abs(Duration.parse(str(d)) - d) < 1e-6


def test_env_substitution() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert substitute("x${env:A}y", env) == "x1y"
    assert substitute("${A}", env) == "1"
    assert substitute("${B:-dflt}", env) == "dflt"
    assert substitute("${EMPTY:-dflt}", env) == "dflt"
    assert substitute("$${A}", env) == "${A}"
    with pytest.raises(ValueError, match="B is not set"):
        substitute("${B}", env)


def test_good_config_builds_pipelines() -> None:
    cfg = model.load_string(GOOD, "cfg.yaml", env={})
    assert [str(p) for p in cfg.pipelines] == ["metrics", "traces/x"]
    assert cfg.warnings == []


def test_every_error_reported_with_file_line_and_path() -> None:
    text = """receivers:
  push: {tagg: 1}
processors:
  batch: {timeout: soon, send_batch_size: many}
exporters:
  collect: {}
  colect/x: {}
service:
  pipelines:
    metrics: {receivers: [push], processors: [batch, bacth], exporters: [collect, nope]}
    logz: {receivers: [push], exporters: [collect]}
  shutdown_timeout: ${env:NOT_SET}
"""
    lines = errors_of(text)
    assert "cfg.yaml:2: receivers.push.tagg: unknown key (did you mean 'tag'?)" in lines
    assert "cfg.yaml:4: processors.batch.timeout: invalid duration 'soon': use forms such as 10s, 1m30s, 250ms" in lines
    assert "cfg.yaml:4: processors.batch.send_batch_size: expected an integer, not 'many'" in lines
    assert any(line.startswith("cfg.yaml:7: exporters.colect/x: unknown exporter type 'colect' (did you mean 'collect'?)")
               for line in lines)
    assert any(line.startswith("cfg.yaml:10: service.pipelines.metrics.processors[1]: references processor 'bacth'")
               and "did you mean 'batch'" in line for line in lines)
    assert any("service.pipelines.metrics.exporters[1]: references exporter 'nope' which is not configured" in line
               for line in lines)
    assert any(line.startswith("cfg.yaml:11: service.pipelines.logz: unknown pipeline type") for line in lines)
    assert any(line.startswith("cfg.yaml:12: service.shutdown_timeout: environment variable NOT_SET") for line in lines)


def test_yaml_syntax_error_names_line() -> None:
    lines = errors_of("receivers:\n  push: {\nservice: [")
    assert len(lines) == 1 and lines[0].startswith("cfg.yaml:") and "not valid YAML" in lines[0]


def test_duplicate_keys_and_wrong_types() -> None:
    lines = errors_of("receivers: [push]\nreceivers: {}\nservice: 3\n")
    assert any("duplicate key" in line for line in lines)
    assert any("service: expected a mapping" in line for line in lines)


def test_unused_component_is_a_warning() -> None:
    cfg = model.load_string(GOOD + "\n", "cfg.yaml", env={})
    assert cfg.warnings == []
    text = GOOD.replace("exporters:\n  collect: {}", "exporters:\n  collect: {}\n  collect/spare: {}")
    cfg = model.load_string(text, "cfg.yaml", env={})
    assert cfg.warnings == ["cfg.yaml:9: warning: exporters.collect/spare: exporter is configured but not used in any pipeline"]


def test_pipeline_needs_receivers_and_exporters() -> None:
    lines = errors_of("receivers: {push: {}}\nservice: {pipelines: {metrics: {receivers: [push]}}}\n")
    assert any("metrics.exporters: a pipeline needs at least one exporter" in line for line in lines)


def test_secrets_are_masked_in_effective_config() -> None:
    text = GOOD.replace("push/two: {tag: b}", "push/two: {tag: b, token: '${env:TOKEN}'}")
    cfg = model.load_string(text, "cfg.yaml", env={"TOKEN": "s3cr3t-value"})
    eff = cfg.effective()
    assert eff["receivers"]["push/two"]["token"] == "[REDACTED]"
    assert "s3cr3t" not in repr(eff) and "s3cr3t" not in repr(cfg.components)
    assert isinstance(cfg.components, dict)
    assert str(Secret("x")) == "[REDACTED]"


def test_yaml_merge_keys() -> None:
    doc = load_text("base: &b {a: 1, b: 2}\nother:\n  <<: *b\n  b: 3\n", "f", env={})
    assert doc.data["other"] == {"a": 1, "b": 3}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgetel", *args], capture_output=True, text=True, timeout=60)


def test_validate_cli(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("receivers:\n  hostmetricz: {}\nservice: {pipelines: {}}\n")
    res = run_cli("validate", "--config", str(bad))
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith(f"{bad}:2: receivers.hostmetricz: unknown receiver type 'hostmetricz'")
    assert any(line.startswith(f"{bad}:3: service.pipelines: no pipelines are configured") for line in lines)
    assert lines[-1] == "2 errors"
    res = run_cli("validate", "--config", str(tmp_path / "missing.yaml"))
    assert res.returncode == 1 and "cannot read the file" in res.stderr


def test_default_config_is_valid_and_shipped() -> None:
    top = Path(__file__).resolve().parents[2] / "agent.yaml"
    packaged = Path(__file__).resolve().parents[2] / "src/edgetel/default_config/agent.yaml"
    assert top.read_text() == packaged.read_text(), "agent.yaml and the packaged default must be the same file"
    res = run_cli("validate")
    assert res.returncode == 0, res.stderr
    res = run_cli("print-config")
    assert res.returncode == 0 and "pipelines:" in res.stdout


def test_components_and_version_cli() -> None:
    res = run_cli("components")
    assert res.returncode == 0 and "batch" in res.stdout and "file" in res.stdout
    assert run_cli("version").stdout.startswith("edgetel ")


def test_two_exporters_cannot_share_a_disk_buffer(tmp_path: Path) -> None:
    text = f"""receivers: {{hostmetrics: {{}}}}
exporters:
  file: {{path: /tmp/x.jsonl, buffer: {{type: disk, directory: {tmp_path}/b}}}}
  file/two: {{path: /tmp/y.jsonl, buffer: {{type: disk, directory: {tmp_path}/b}}}}
service: {{pipelines: {{metrics: {{receivers: [hostmetrics], exporters: [file, file/two]}}}}}}
"""
    lines = errors_of(text)
    assert lines == [f"cfg.yaml:4: exporters.file/two.buffer.directory: {tmp_path}/b is already the disk buffer "
                     "of exporter 'file'"]


def test_validate_check_buffers(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(f"""receivers: {{hostmetrics: {{}}}}
exporters:
  file: {{path: {tmp_path}/x.jsonl, buffer: {{type: disk, directory: {tmp_path}/buf}}}}
service: {{pipelines: {{metrics: {{receivers: [hostmetrics], exporters: [file]}}}}}}
""")
    res = subprocess.run([sys.executable, "-m", "edgetel", "validate", "--config", str(cfg), "--check-buffers"],
                         capture_output=True, text=True, timeout=60, env={"STATE_DIRECTORY": str(tmp_path / "state"),
                                                                          "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    assert f"{tmp_path}/buf: not created yet" in res.stdout
