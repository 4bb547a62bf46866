"""Settings of the tail_sampling processor: the OpenTelemetry Collector's keys and policy types, plus edgetel's
`latency_percentile` policy, `root_grace`, `max_buffered_bytes` and `max_spans_per_trace`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from edgetel.config.types import Duration, Size

PolicyType = Literal[
    "always_sample", "latency", "latency_percentile", "status_code", "string_attribute", "numeric_attribute",
    "boolean_attribute", "probabilistic", "rate_limiting", "span_count", "and", "drop", "composite",
]  # fmt: skip
LEAF_TYPES = frozenset(
    {"always_sample", "latency", "latency_percentile", "status_code", "string_attribute", "numeric_attribute",
     "boolean_attribute", "probabilistic", "rate_limiting", "span_count"}
)  # fmt: skip
STATUS_CODES = ("UNSET", "OK", "ERROR")


@dataclass
class LatencyCfg:
    threshold_ms: int = 0
    upper_threshold_ms: int = 0


@dataclass
class LatencyPercentileCfg:
    percentile: float = 99.0
    # `service.name` and `span.name` are the root span's service and name; other keys are attributes of the
    # root span (or of its resource).
    group_by: list[str] = field(default_factory=lambda: ["service.name", "span.name"])
    window: Duration = field(default_factory=lambda: Duration(300.0))
    min_traces: int = 100
    max_groups: int = 1000
    # The threshold is at or below the group's true percentile with this probability (%): 50 is the plain
    # estimate; higher trades a few more kept traces just below the percentile for fewer missed above it.
    confidence: float = 50.0
    # 0: off. Otherwise the percentile comes from up to this much history (more traces, a more precise
    # percentile) while the last `window` agrees with it; after a latency change, from `window` alone.
    max_window: Duration = field(default_factory=lambda: Duration(0.0))


@dataclass
class StatusCodeCfg:
    status_codes: list[str] = field(default_factory=list)


@dataclass
class StringAttributeCfg:
    key: str = ""
    values: list[str] = field(default_factory=list)
    enabled_regex_matching: bool = False
    cache_max_size: int = 0
    invert_match: bool = False


@dataclass
class NumericAttributeCfg:
    key: str = ""
    min_value: int = 0
    max_value: int = 0
    invert_match: bool = False


@dataclass
class BooleanAttributeCfg:
    key: str = ""
    value: bool = False
    invert_match: bool = False


@dataclass
class ProbabilisticCfg:
    sampling_percentage: float = 0.0
    # Set: the Collector's FNV-1a hash of salt + trace id instead of the trace id's random bits (no `th` written).
    hash_salt: str = ""


@dataclass
class RateLimitingCfg:
    spans_per_second: int = 0


@dataclass
class SpanCountCfg:
    min_spans: int = 0
    max_spans: int = 0
    invert_match: bool = False


@dataclass
class SubPolicyCfg:
    """A policy without sub-policies (inside `and`, `drop` and `composite`)."""

    name: str = ""
    type: PolicyType = "always_sample"
    latency: LatencyCfg = field(default_factory=LatencyCfg)
    latency_percentile: LatencyPercentileCfg = field(default_factory=LatencyPercentileCfg)
    status_code: StatusCodeCfg = field(default_factory=StatusCodeCfg)
    string_attribute: StringAttributeCfg = field(default_factory=StringAttributeCfg)
    numeric_attribute: NumericAttributeCfg = field(default_factory=NumericAttributeCfg)
    boolean_attribute: BooleanAttributeCfg = field(default_factory=BooleanAttributeCfg)
    probabilistic: ProbabilisticCfg = field(default_factory=ProbabilisticCfg)
    rate_limiting: RateLimitingCfg = field(default_factory=RateLimitingCfg)
    span_count: SpanCountCfg = field(default_factory=SpanCountCfg)

    def validate(self) -> Iterator[tuple[str, str]]:
        yield from _check_leaf(self)


@dataclass
class AndCfg:
    and_sub_policy: list[SubPolicyCfg] = field(default_factory=list)


@dataclass
class CompositeSubPolicyCfg(SubPolicyCfg):
    and_: AndCfg = field(default_factory=AndCfg, metadata={"key": "and"})

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.type == "and":
            if not self.and_.and_sub_policy:
                yield "and.and_sub_policy", "an and policy needs at least one sub-policy"
        else:
            yield from _check_leaf(self)


@dataclass
class RateAllocationCfg:
    policy: str = ""
    percent: int = 0


@dataclass
class CompositeCfg:
    max_total_spans_per_second: int = 0
    policy_order: list[str] = field(default_factory=list)
    composite_sub_policy: list[CompositeSubPolicyCfg] = field(default_factory=list)
    rate_allocation: list[RateAllocationCfg] = field(default_factory=list)


@dataclass
class DropCfg:
    drop_sub_policy: list[SubPolicyCfg] = field(default_factory=list)


@dataclass
class PolicyCfg(CompositeSubPolicyCfg):
    composite: CompositeCfg = field(default_factory=CompositeCfg)
    drop: DropCfg = field(default_factory=DropCfg)

    def validate(self) -> Iterator[tuple[str, str]]:
        if not self.name:
            yield "name", "every policy needs a name (it labels the decision metrics)"
        if self.type == "drop":
            if not self.drop.drop_sub_policy:
                yield "drop.drop_sub_policy", "a drop policy needs at least one sub-policy"
        elif self.type == "composite":
            c = self.composite
            names = [p.name for p in c.composite_sub_policy]
            if not names:
                yield "composite.composite_sub_policy", "a composite policy needs at least one sub-policy"
            if c.max_total_spans_per_second <= 0:
                yield "composite.max_total_spans_per_second", "must be greater than 0"
            for i, n in enumerate(c.policy_order):
                if n not in names:
                    yield f"composite.policy_order.{i}", f"no composite_sub_policy is named {n!r}"
            for i, a in enumerate(c.rate_allocation):
                if a.policy not in names:
                    yield f"composite.rate_allocation.{i}.policy", f"no composite_sub_policy is named {a.policy!r}"
            if sum(a.percent for a in c.rate_allocation) > 100:
                yield "composite.rate_allocation", "the percentages add up to more than 100"
        else:
            yield from CompositeSubPolicyCfg.validate(self)


def _check_leaf(p: SubPolicyCfg) -> Iterator[tuple[str, str]]:
    if p.type not in LEAF_TYPES:
        yield "type", f"{p.type} cannot be used here (only one level of and/composite/drop)"
        return
    if p.type == "latency":
        lat = p.latency
        if lat.threshold_ms < 0 or lat.upper_threshold_ms < 0:
            yield "latency", "thresholds cannot be negative"
        elif lat.upper_threshold_ms and lat.upper_threshold_ms < lat.threshold_ms:
            yield "latency.upper_threshold_ms", "must be 0 (none) or at least threshold_ms"
        elif not lat.threshold_ms and not lat.upper_threshold_ms:
            yield "latency.threshold_ms", "set threshold_ms or upper_threshold_ms"
    elif p.type == "latency_percentile":
        lp = p.latency_percentile
        if not 0 < lp.percentile < 100:
            yield "latency_percentile.percentile", "must be between 0 and 100 (exclusive)"
        if lp.window <= 0:
            yield "latency_percentile.window", "must be greater than 0"
        if not 50.0 <= lp.confidence < 100.0:
            yield "latency_percentile.confidence", "must be at least 50 and below 100"
        if lp.min_traces < 1:
            yield "latency_percentile.min_traces", "must be at least 1"
        if lp.max_groups < 1:
            yield "latency_percentile.max_groups", "must be at least 1"
        if lp.max_window and lp.max_window < lp.window:
            yield "latency_percentile.max_window", "must be 0 (off) or at least window"
    elif p.type == "status_code":
        if not p.status_code.status_codes:
            yield "status_code.status_codes", "list at least one of UNSET, OK, ERROR"
        for i, c in enumerate(p.status_code.status_codes):
            if c not in STATUS_CODES:
                yield f"status_code.status_codes.{i}", f"must be one of UNSET, OK, ERROR, not {c!r}"
    elif p.type == "string_attribute":
        sa = p.string_attribute
        if not sa.key:
            yield "string_attribute.key", "required"
        if not sa.values:
            yield "string_attribute.values", "list at least one value"
        if sa.enabled_regex_matching:
            for i, v in enumerate(sa.values):
                try:
                    re.compile(v)
                except re.error as e:
                    yield f"string_attribute.values.{i}", f"invalid regular expression: {e}"
    elif p.type == "numeric_attribute":
        na = p.numeric_attribute
        if not na.key:
            yield "numeric_attribute.key", "required"
        if na.max_value and na.max_value < na.min_value:
            yield "numeric_attribute.max_value", "must be at least min_value"
    elif p.type == "boolean_attribute":
        if not p.boolean_attribute.key:
            yield "boolean_attribute.key", "required"
    elif p.type == "probabilistic":
        if not 0 <= p.probabilistic.sampling_percentage <= 100:
            yield "probabilistic.sampling_percentage", "must be between 0 and 100"
    elif p.type == "rate_limiting":
        if p.rate_limiting.spans_per_second <= 0:
            yield "rate_limiting.spans_per_second", "must be greater than 0"
    elif p.type == "span_count":
        sc = p.span_count
        if sc.min_spans < 0 or sc.max_spans < 0:
            yield "span_count", "cannot be negative"
        elif sc.max_spans and sc.max_spans < sc.min_spans:
            yield "span_count.max_spans", "must be 0 (no limit) or at least min_spans"


@dataclass
class DecisionCacheCfg:
    sampled_cache_size: int = 10_000
    non_sampled_cache_size: int = 50_000


@dataclass
class TailSamplingConfig:
    decision_wait: Duration = field(default_factory=lambda: Duration(10.0))
    num_traces: int = 50_000
    # Accepted for Collector compatibility; edgetel sizes its tables itself.
    expected_new_traces_per_sec: int = 0
    decision_cache: DecisionCacheCfg = field(default_factory=DecisionCacheCfg)
    policies: list[PolicyCfg] = field(default_factory=list)
    # edgetel: decide `root_grace` after the root span arrived (0: wait the full decision_wait).
    root_grace: Duration = field(default_factory=lambda: Duration(2.0))
    max_buffered_bytes: Size = field(default_factory=lambda: Size(64 * 1024 * 1024))
    max_spans_per_trace: int = 5000
    # Collector key: a trace larger than this is decided at once (edgetel decides early instead of dropping).
    maximum_trace_size_bytes: Size = field(default_factory=lambda: Size(0))
    # Write `ot=th:` into the tracestate of kept spans.
    write_threshold: bool = True

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.decision_wait <= 0:
            yield "decision_wait", "must be greater than 0"
        if self.num_traces < 1:
            yield "num_traces", "must be at least 1"
        if self.max_buffered_bytes < 64 * 1024:
            yield "max_buffered_bytes", "must be at least 64KiB"
        if self.max_spans_per_trace < 1:
            yield "max_spans_per_trace", "must be at least 1"
        if self.decision_cache.sampled_cache_size < 0 or self.decision_cache.non_sampled_cache_size < 0:
            yield "decision_cache", "sizes cannot be negative"
        if not self.policies:
            yield "policies", "list at least one policy (for example status_code, latency_percentile, probabilistic)"
        names = [p.name for p in self.policies]
        for i, n in enumerate(names):
            if n and names.index(n) != i:
                yield f"policies.{i}.name", f"duplicate policy name {n!r}"
