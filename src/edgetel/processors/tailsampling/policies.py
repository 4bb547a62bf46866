"""Sampling policies. `evaluate(info)` returns None (not sampled) or the rejection threshold the trace is kept
with: 0 means kept with certainty, T > 0 means kept by consistent probability sampling at threshold T,
NO_THRESHOLD means kept with a probability that cannot be expressed as a threshold."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Protocol

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edgetel.processors.tailsampling.buffer import ScopeTable, Trace, build_request, varint
from edgetel.processors.tailsampling.config import (
    CompositeSubPolicyCfg,
    PolicyCfg,
    SubPolicyCfg,
)
from edgetel.processors.tailsampling.percentile import LatencyPercentile
from edgetel.processors.tailsampling.tracestate import existing_threshold, randomness, threshold_for

NO_THRESHOLD = -1  # kept with an unknown probability (hash-based probabilistic): no `th` is written
_STATUS = {"UNSET": 0, "OK": 1, "ERROR": 2}
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_U64 = (1 << 64) - 1


class TraceInfo:
    """A trace being decided: cheap facts from intake, the parsed spans on demand."""

    __slots__ = ("_req", "now", "scopes", "trace")

    def __init__(self, trace: Trace, scopes: ScopeTable, now: float) -> None:
        self.trace = trace
        self.scopes = scopes
        self.now = now
        self._req: ExportTraceServiceRequest | None = None

    @property
    def request(self) -> ExportTraceServiceRequest:
        if self._req is None:
            self._req = build_request([self.trace], self.scopes)
        return self._req

    def resources_and_spans(self) -> Iterator[tuple[Any, Any]]:
        for rs in self.request.resource_spans:
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    yield rs.resource, sp

    def mentions(self, key: str) -> bool:
        """False when no span or resource of the trace can have attribute `key` (its encoded KeyValue.key field
        occurs nowhere in the buffered bytes): most traces skip parsing for attribute policies."""
        raw = key.encode()
        needle = b"\x0a" + varint(len(raw)) + raw
        t = self.trace
        for sid, chunk in t.chunks():
            if needle in chunk:
                return True
            entry = self.scopes.entries.get(sid)
            if entry is not None and needle in entry.resource:
                return True
        return False

    def attribute_values(self, key: str) -> Iterator[Any]:
        """Every value of attribute `key` on the trace's resources and spans (AnyValue messages)."""
        if not self.mentions(key):
            return
        for rs in self.request.resource_spans:
            for kv in rs.resource.attributes:
                if kv.key == key:
                    yield kv.value
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    for kv in sp.attributes:
                        if kv.key == key:
                            yield kv.value

    def _root(self) -> tuple[Any, Any] | None:
        """(resource, span) of the root span, or of the earliest span when the root is missing."""
        best: tuple[Any, Any] | None = None
        best_rank: tuple[int, int] = (2, 0)
        for res, sp in self.resources_and_spans():
            rank = (0 if not sp.parent_span_id else 1, sp.start_time_unix_nano)
            if best is None or rank < best_rank:
                best, best_rank = (res, sp), rank
        return best

    def root_span_name(self) -> str:
        root = self._root()
        return "" if root is None else str(root[1].name)

    def root_attribute(self, key: str) -> str:
        """`key` of the root span (or the earliest span), then of its resource; "" when absent."""
        root = self._root()
        if root is None:
            return ""
        res, sp = root
        for attrs in (sp.attributes, res.attributes):
            for kv in attrs:
                if kv.key == key:
                    return _text(kv.value)
        return ""


def _text(v: Any) -> str:
    kind = v.WhichOneof("value")
    return "" if kind is None else str(getattr(v, kind))


class Policy(Protocol):
    name: str

    def evaluate(self, info: TraceInfo) -> int | None: ...


class AlwaysSample:
    def __init__(self, name: str) -> None:
        self.name = name

    def evaluate(self, info: TraceInfo) -> int | None:
        return 0


class Latency:
    """Collector semantics: duration >= threshold_ms, and <= upper_threshold_ms when that is set."""

    def __init__(self, name: str, threshold_ms: int, upper_ms: int) -> None:
        self.name = name
        self.lower = threshold_ms / 1000.0
        self.upper = upper_ms / 1000.0

    def evaluate(self, info: TraceInfo) -> int | None:
        d = info.trace.duration
        if d >= self.lower and (not self.upper or d <= self.upper):
            return 0
        return None


class StatusCode:
    def __init__(self, name: str, codes: list[str]) -> None:
        self.name = name
        self.mask = 0
        for c in codes:
            self.mask |= 1 << _STATUS[c]

    def evaluate(self, info: TraceInfo) -> int | None:
        return 0 if info.trace.codes & self.mask else None


class StringAttribute:
    def __init__(self, name: str, key: str, values: list[str], regex: bool, invert: bool) -> None:
        self.name = name
        self.key = key
        self.values = frozenset(values)
        self.patterns = [re.compile(v) for v in values] if regex else []
        self.invert = invert

    def _match(self, s: str) -> bool:
        if self.patterns:
            return any(p.search(s) for p in self.patterns)
        return s in self.values

    def evaluate(self, info: TraceInfo) -> int | None:
        matched = any(
            v.WhichOneof("value") == "string_value" and self._match(v.string_value)
            for v in info.attribute_values(self.key)
        )
        return 0 if matched != self.invert else None


class NumericAttribute:
    """min_value <= value <= max_value (max_value 0: no upper bound), on int or double attributes."""

    def __init__(self, name: str, key: str, lo: int, hi: int, invert: bool) -> None:
        self.name, self.key, self.lo, self.hi, self.invert = name, key, lo, hi, invert

    def evaluate(self, info: TraceInfo) -> int | None:
        matched = False
        for v in info.attribute_values(self.key):
            kind = v.WhichOneof("value")
            if kind in ("int_value", "double_value"):
                x = getattr(v, kind)
                if x >= self.lo and (not self.hi or x <= self.hi):
                    matched = True
                    break
        return 0 if matched != self.invert else None


class BooleanAttribute:
    def __init__(self, name: str, key: str, value: bool, invert: bool) -> None:
        self.name, self.key, self.value, self.invert = name, key, value, invert

    def evaluate(self, info: TraceInfo) -> int | None:
        matched = any(
            v.WhichOneof("value") == "bool_value" and v.bool_value == self.value
            for v in info.attribute_values(self.key)
        )
        return 0 if matched != self.invert else None


class Probabilistic:
    """Consistent: kept when R >= T (R: the trace's 56 random bits); kept traces carry T. With `hash_salt`:
    the Collector's FNV-1a hash of salt + trace id (not consistent with other samplers; kept with th 0)."""

    def __init__(self, name: str, percentage: float, hash_salt: str = "") -> None:
        self.name = name
        self.t = threshold_for(percentage)
        self.salt = hash_salt.encode()
        self.hash_limit = int(min(max(percentage, 0.0), 100.0) / 100.0 * _U64)

    def evaluate(self, info: TraceInfo) -> int | None:
        t = info.trace
        if self.salt:
            h = _FNV_OFFSET
            for b in self.salt + t.trace_id:
                h = ((h ^ b) * _FNV_PRIME) & _U64
            return NO_THRESHOLD if h <= self.hash_limit else None
        if self.t >= 1 << 56:
            return None
        r = randomness(t.trace_id, t.tracestate) if t.tracestate else int.from_bytes(t.trace_id[9:16], "big")
        if r >= self.t:
            return self.t
        upstream = existing_threshold(t.tracestate)
        # Sampled upstream at a higher threshold than ours: every trace reaching us passed ours too.
        if upstream is not None and upstream >= self.t:
            return upstream
        return None


class _PerSecond:
    """A per-second span budget (the Collector's rate_limiting semantics)."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.second = -1
        self.used = 0

    def take(self, n: int, now: float) -> bool:
        sec = int(now)
        if sec != self.second:
            self.second, self.used = sec, 0
        if self.used + n <= self.limit:
            self.used += n
            return True
        return False


class RateLimiting:
    def __init__(self, name: str, spans_per_second: int) -> None:
        self.name = name
        self.budget = _PerSecond(spans_per_second)

    def evaluate(self, info: TraceInfo) -> int | None:
        return 0 if self.budget.take(info.trace.spans, info.now) else None


class SpanCount:
    def __init__(self, name: str, lo: int, hi: int, invert: bool) -> None:
        self.name, self.lo, self.hi, self.invert = name, lo, hi, invert

    def evaluate(self, info: TraceInfo) -> int | None:
        n = info.trace.spans
        matched = n >= self.lo and (not self.hi or n <= self.hi)
        return 0 if matched != self.invert else None


class And:
    """Kept when every sub-policy keeps the trace (with the largest of their thresholds)."""

    def __init__(self, name: str, subs: list[Policy]) -> None:
        self.name, self.subs = name, subs

    def evaluate(self, info: TraceInfo) -> int | None:
        th = 0
        unknown = False
        for p in self.subs:
            r = p.evaluate(info)
            if r is None:
                return None
            unknown = unknown or r == NO_THRESHOLD
            th = max(th, r)
        return NO_THRESHOLD if unknown else th


class Drop(And):
    """Matches (and vetoes every other policy) when all of its sub-policies match."""


class Composite:
    """Sub-policies in `policy_order`, each with a share of `max_total_spans_per_second`; the first that keeps
    the trace within its share (and the total) decides."""

    def __init__(self, name: str, total: int, subs: list[tuple[Policy, float]]) -> None:
        self.name = name
        self.total = _PerSecond(total)
        self.subs = [(p, _PerSecond(share)) for p, share in subs]

    def evaluate(self, info: TraceInfo) -> int | None:
        n, now = info.trace.spans, info.now
        for p, budget in self.subs:
            r = p.evaluate(info)
            if r is None:
                continue
            tot = self.total
            if int(now) != tot.second:
                tot.second, tot.used = int(now), 0
            if tot.used + n > tot.limit:
                continue
            if budget.take(n, now):
                tot.used += n
                return r
        return None


def build(cfg: SubPolicyCfg) -> Policy:
    """The policy for one config entry (recursively for and/drop/composite)."""
    name, t = cfg.name, cfg.type
    if t == "always_sample":
        return AlwaysSample(name)
    if t == "latency":
        return Latency(name, cfg.latency.threshold_ms, cfg.latency.upper_threshold_ms)
    if t == "latency_percentile":
        lp = cfg.latency_percentile
        return LatencyPercentile(name, lp.percentile, lp.group_by, float(lp.window), lp.min_traces, lp.max_groups,
                                 lp.confidence, float(lp.max_window))  # fmt: skip
    if t == "status_code":
        return StatusCode(name, cfg.status_code.status_codes)
    if t == "string_attribute":
        sa = cfg.string_attribute
        return StringAttribute(name, sa.key, sa.values, sa.enabled_regex_matching, sa.invert_match)
    if t == "numeric_attribute":
        na = cfg.numeric_attribute
        return NumericAttribute(name, na.key, na.min_value, na.max_value, na.invert_match)
    if t == "boolean_attribute":
        ba = cfg.boolean_attribute
        return BooleanAttribute(name, ba.key, ba.value, ba.invert_match)
    if t == "probabilistic":
        return Probabilistic(name, cfg.probabilistic.sampling_percentage, cfg.probabilistic.hash_salt)
    if t == "rate_limiting":
        return RateLimiting(name, cfg.rate_limiting.spans_per_second)
    if t == "span_count":
        sc = cfg.span_count
        return SpanCount(name, sc.min_spans, sc.max_spans, sc.invert_match)
    if t == "and" and isinstance(cfg, CompositeSubPolicyCfg):
        return And(name, [build(s) for s in cfg.and_.and_sub_policy])
    if t == "drop" and isinstance(cfg, PolicyCfg):
        return Drop(name, [build(s) for s in cfg.drop.drop_sub_policy])
    if t == "composite" and isinstance(cfg, PolicyCfg):
        c = cfg.composite
        subs = {s.name: s for s in c.composite_sub_policy}
        order = [n for n in c.policy_order if n in subs] + [n for n in subs if n not in c.policy_order]
        shares = {a.policy: a.percent for a in c.rate_allocation}
        even = c.max_total_spans_per_second / max(1, len(subs))
        built = []
        for n in order:
            # The Collector's allocation: no rate_allocation -> equal shares; a listed policy gets its percent
            # (0 -> an equal share); a policy left out of a non-empty rate_allocation gets nothing.
            if not shares:
                share = even
            elif n in shares:
                share = shares[n] / 100.0 * c.max_total_spans_per_second if shares[n] > 0 else even
            else:
                share = 0.0
            built.append((build(subs[n]), share))
        return Composite(name, c.max_total_spans_per_second, built)
    raise ValueError(f"policy type {t!r} is not allowed here")
