"""Config decoding: a Collector tail_sampling config ports over; mistakes are reported by key path."""

from __future__ import annotations

from typing import Any

import yaml

from edgetel.config.decode import decode
from edgetel.config.problems import Problems
from edgetel.processors.tailsampling.config import TailSamplingConfig

COLLECTOR_EXAMPLE = """
decision_wait: 10s
num_traces: 100
expected_new_traces_per_sec: 10
decision_cache:
  sampled_cache_size: 100000
  non_sampled_cache_size: 100000
policies:
  - {name: test-policy-1, type: always_sample}
  - {name: test-policy-2, type: latency, latency: {threshold_ms: 5000, upper_threshold_ms: 10000}}
  - {name: test-policy-3, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 50, max_value: 100}}
  - {name: test-policy-4, type: probabilistic, probabilistic: {sampling_percentage: 10}}
  - {name: test-policy-5, type: status_code, status_code: {status_codes: [ERROR, UNSET]}}
  - {name: test-policy-6, type: string_attribute, string_attribute: {key: key2, values: [value1, value2]}}
  - name: test-policy-7
    type: string_attribute
    string_attribute: {key: key2, values: [value1, val*], enabled_regex_matching: true, cache_max_size: 10}
  - {name: test-policy-8, type: rate_limiting, rate_limiting: {spans_per_second: 35}}
  - {name: test-policy-9, type: string_attribute,
     string_attribute: {key: http.url, values: [\\/health, \\/metrics], enabled_regex_matching: true,
                        invert_match: true}}
  - {name: test-policy-10, type: span_count, span_count: {min_spans: 2, max_spans: 20}}
  - {name: test-policy-12, type: boolean_attribute, boolean_attribute: {key: key4, value: true}}
  - name: and-policy-1
    type: and
    and:
      and_sub_policy:
        - {name: test-and-policy-1, type: numeric_attribute,
           numeric_attribute: {key: key1, min_value: 50, max_value: 100}}
        - {name: test-and-policy-2, type: string_attribute, string_attribute: {key: key2, values: [value1]}}
  - name: composite-policy-1
    type: composite
    composite:
      max_total_spans_per_second: 1000
      policy_order: [test-composite-policy-1, test-composite-policy-2, test-composite-policy-3]
      composite_sub_policy:
        - {name: test-composite-policy-1, type: numeric_attribute,
           numeric_attribute: {key: key1, min_value: 50, max_value: 100}}
        - {name: test-composite-policy-2, type: string_attribute,
           string_attribute: {key: key2, values: [value1, value2]}}
        - {name: test-composite-policy-3, type: always_sample}
      rate_allocation:
        - {policy: test-composite-policy-1, percent: 50}
        - {policy: test-composite-policy-2, percent: 25}
  - name: drop-policy-1
    type: drop
    drop:
      drop_sub_policy:
        - {name: test-drop-policy-1, type: string_attribute, string_attribute: {key: url.path, values: [\\/health]}}
"""


def problems(raw: Any) -> list[str]:
    p = Problems("t.yaml")
    decode(TailSamplingConfig, raw, p)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in p.errors]


def test_collector_config_ports_over() -> None:
    raw = yaml.safe_load(COLLECTOR_EXAMPLE)
    assert problems(raw) == []
    p = Problems("t.yaml")
    cfg = decode(TailSamplingConfig, raw, p)
    assert float(cfg.decision_wait) == 10 and len(cfg.policies) == 14
    assert cfg.policies[11].and_.and_sub_policy[1].string_attribute.values == ["value1"]


def test_defaults() -> None:
    cfg = decode(TailSamplingConfig, {"policies": [{"name": "a", "type": "always_sample"}]}, Problems("t"))
    assert (cfg.decision_wait, cfg.root_grace, cfg.num_traces) == (10.0, 2.0, 50_000)
    assert cfg.max_buffered_bytes == 64 * 1024 * 1024


def test_mistakes_are_reported_by_path() -> None:
    got = problems({"policies": [
        {"name": "a", "type": "latency_percentil"},
        {"type": "status_code", "status_code": {"status_codes": ["FAIL"]}},
        {"name": "c", "type": "and", "and": {"and_sub_policy": [{"name": "x", "type": "and"}]}},
        {"name": "d", "type": "composite", "composite": {"max_total_spans_per_second": 10, "policy_order": ["zz"],
                                                         "composite_sub_policy": [{"name": "y"}]}},
        {"name": "a", "type": "probabilistic", "probabilistic": {"sampling_percentage": 150}},
        {"name": "e", "type": "latency_percentile", "latency_percentile": {"percentile": 100}},
        {"name": "f", "type": "latency_percentile", "latency_percentile": {"confidence": 100}},
        {"name": "g", "type": "latency_percentile", "latency_percentile": {"window": "10m", "max_window": "5m"}},
    ]})  # fmt: skip
    text = "\n".join(got)
    assert "policies.0.type: must be one of" in text and "latency_percentile" in text
    assert "policies.1.name: every policy needs a name" in text
    assert "policies.1.status_code.status_codes.0: must be one of UNSET, OK, ERROR" in text
    assert "policies.2.and.and_sub_policy.0.type: and cannot be used here" in text
    assert "policies.3.composite.policy_order.0: no composite_sub_policy is named 'zz'" in text
    assert "policies.4.name: duplicate policy name 'a'" in text
    assert "policies.4.probabilistic.sampling_percentage: must be between 0 and 100" in text
    assert "policies.5.latency_percentile.percentile" in text
    assert "policies.6.latency_percentile.confidence: must be at least 50 and below 100" in text
    assert "policies.7.latency_percentile.max_window: must be 0 (off) or at least window" in text
    assert "policies: list at least one policy" in "\n".join(problems({}))
