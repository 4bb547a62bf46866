"""Config keys, defaults and validation."""

from __future__ import annotations

from pathlib import Path

from edgetel.config.decode import decode
from edgetel.config.problems import Problems
from edgetel.receivers.hostmetrics.config import DEFAULT_SCRAPERS, HostMetricsConfig
from edgetel.receivers.hostmetrics.factory import factory


def _problems(raw: dict[str, object]) -> list[str]:
    p = Problems("t.yaml")
    decode(HostMetricsConfig, raw, p, ())
    return [f"{'.'.join(map(str, i.path))}: {i.message}" for i in p.items]


def test_defaults() -> None:
    cfg = HostMetricsConfig()
    assert (cfg.collection_interval, cfg.initial_delay, cfg.root_path, cfg.metric_names) == (10, 1, "", "otel")
    assert tuple(cfg.scrapers.enabled()) == DEFAULT_SCRAPERS
    assert "process" not in cfg.scrapers.enabled()
    assert factory.type == "hostmetrics" and factory.config_type is HostMetricsConfig


def test_written_scrapers_only_and_null_values() -> None:
    p = Problems("t.yaml")
    cfg = decode(HostMetricsConfig, {"scrapers": {"cpu": None, "process": {}}}, p, ())
    assert not p.items
    assert list(cfg.scrapers.enabled()) == ["cpu", "process"]


def test_errors_are_reported_with_paths(tmp_path: Path) -> None:
    errors = _problems(
        {
            "collection_interval": "0s",
            "root_path": str(tmp_path / "missing"),
            "metric_names": "prom",
            "scrapers": {
                "cpus": {},
                "memory": {"metrics": {"system.memory.usage.x": {"enabled": True}}},
                "filesystem": {"exclude_mount_points": {"mount_points": ["("], "match_type": "regexp"}},
            },
        }
    )
    text = "\n".join(errors)
    assert "scrapers.cpus: unknown key (did you mean cpu?)" in text or "scrapers.cpus: unknown key" in text
    assert "metric_names: must be one of otel, node_exporter" in text
    assert "scrapers.memory.metrics.system.memory.usage.x: unknown metric" in text
    assert "scrapers.filesystem.exclude_mount_points.mount_points.0: invalid regular expression" in text
    assert "collection_interval: must be greater than 0" in text
    assert "root_path: directory" in text
    assert _problems({"root_path": "relative/dir"}) == ["root_path: must be an absolute path such as /hostfs"]


def test_factory_module_is_cheap() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import edgetel.component.factory, edgetel.config.decode; before = set(sys.modules); "
        "import edgetel.receivers.hostmetrics.factory; "
        "print(sorted(m for m in set(sys.modules) - before if not m.startswith('edgetel.receivers')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_root_path_without_proc(tmp_path: Path) -> None:
    assert _problems({"root_path": str(tmp_path)}) == [
        f"root_path: no proc file system under {str(tmp_path)!r} ({tmp_path}/proc/stat)"
    ]
