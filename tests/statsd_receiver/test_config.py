"""The statsd config: defaults, YAML forms, and the checks across fields."""

from __future__ import annotations

import yaml

from edgetel.config.decode import decode
from edgetel.config.problems import Problems
from edgetel.receivers.statsd.config import DEFAULT_BUCKETS, StatsdConfig


def _decode(text: str) -> tuple[StatsdConfig, list[str]]:
    problems = Problems("t.yaml")
    cfg = decode(StatsdConfig, yaml.safe_load(text), problems)
    return cfg, [p.message for p in problems.errors]


def test_defaults() -> None:
    cfg, errors = _decode("{}")
    assert not errors
    assert cfg.endpoint == "127.0.0.1:8125" and cfg.aggregation_interval == 10 and cfg.series_ttl == 300
    assert cfg.max_series == 100_000 and cfg.gauge_deltas and cfg.permissions() == 0o660
    assert cfg.buckets_for("x") == DEFAULT_BUCKETS
    assert cfg.observer_for("ms").observer_type == "histogram"


def test_yaml_forms() -> None:
    cfg, errors = _decode(
        "socket_permissions: 0600\nrcvbuf: 32MiB\naggregation_interval: 1m\n"
        "histogram: [{match: 'api.*', buckets: [0.1, 1]}]\n"
        "timer_histogram_mapping: [{statsd_type: distribution, observer_type: summary, summary: {percentiles: [50]}}]\n"
    )
    assert not errors
    assert cfg.permissions() == 0o600  # YAML 1.1 reads 0600 as octal
    assert cfg.rcvbuf == 32 << 20 and cfg.aggregation_interval == 60
    assert cfg.buckets_for("api.get") == [0.1, 1] and cfg.buckets_for("db.q") == DEFAULT_BUCKETS
    assert cfg.observer_for("d").summary.percentiles == [50]
    assert _decode("socket_permissions: '0640'")[0].permissions() == 0o640


def test_checks() -> None:
    _, errors = _decode(
        "endpoint: ''\nseries_ttl: 1s\nsocket_permissions: '99'\nmax_series: 0\n"
        "histogram: [{buckets: [2, 1]}]\n"
        "timer_histogram_mapping: [{statsd_type: timer}, {statsd_type: timing}]\n"
    )
    assert any("at least one of endpoint" in e for e in errors)
    assert any("series_ttl" not in e and "aggregation_interval" in e for e in errors)
    assert any("octal" in e for e in errors)
    assert any("strictly increasing" in e for e in errors)
    assert any("mapped twice" in e for e in errors)
    assert len(errors) == 6
