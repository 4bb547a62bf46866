"""Sampling policies. `evaluate(info)` returns None (not sampled) or the rejection threshold the trace is kept
with: 0 means kept with certainty, T > 0 means kept by consistent probability sampling at threshold T,
NO_THRESHOLD means kept with a probability that cannot be expressed as a threshold."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from math import ceil, log
from typing import Any, Protocol

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edgetel.processors.tailsampling.buffer import ScopeTable, Trace, build_request, varint
from edgetel.processors.tailsampling.config import (
    CompositeSubPolicyCfg,
    PolicyCfg,
    SubPolicyCfg,
)
from edgetel.processors.tailsampling.sketch import INV_LOG_GAMMA, WindowedSketch
from edgetel.processors.tailsampling.tracestate import existing_threshold, randomness, threshold_for

NO_THRESHOLD = -1  # kept with an unknown probability (hash-based probabilistic): no `th` is written
NO_ROOT_GROUP = ("<no root span>",)
OVERFLOW_KEY = ("\x00overflow",)
DETECT_Z = 4.0  # standard errors beyond which the last window disagrees with the long history (max_window)
LONG_TOP = 1024  # exact top values per slot of a max_window sketch (its P99 exact up to 102,400 traces)
CHECK_EVERY = 5.0  # seconds between two checks of a group's last window against its long history
_STATUS = {"UNSET": 0, "OK": 1, "ERROR": 2}
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_U64 = (1 << 64) - 1


def normal_quantile(p: float) -> float:
    """z with Phi(z) = p (0 < p < 1), by bisection (statistics.NormalDist costs its imports at startup)."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


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


class LatencyPercentile:
    """Kept when the trace's duration is at or above the learned percentile of its group.

    With `max_window` a group also learns over that longer history (more traces: a more precise percentile, see
    docs/sampling.md, "The bound") and uses it while the last `window` agrees: while the share of that window's
    traces at or above the long history's threshold is within DETECT_Z standard errors (plus one trace) of the
    long history's own share. After a real latency change it is not, and the group follows `window` alone until
    the long history has caught up."""

    def __init__(self, name: str, percentile: float, group_by: list[str], window: float, min_traces: int,
                 max_groups: int, confidence: float = 50.0, max_window: float = 0.0) -> None:  # fmt: skip
        self.name = name
        self.q = percentile / 100.0
        # The threshold is a lower confidence bound for the percentile (z standard errors below the estimate):
        # missing a trace above the true percentile costs more than keeping one just below it.
        self.z = normal_quantile(confidence / 100.0) if confidence > 50.0 else 0.0
        self.group_by = list(group_by)
        self._default = list(group_by) == ["service.name", "span.name"]
        self.window = window
        self.min_traces = min_traces
        self.max_groups = max_groups
        self.groups: dict[tuple[str, ...], WindowedSketch] = {}
        self.overflow = WindowedSketch(window)
        self.all = WindowedSketch(window, max_bins=2048, top=0)  # only a stand-in while groups learn
        self.max_window = max_window if max_window > window else 0.0
        self.long: dict[tuple[str, ...], WindowedSketch] = {}  # per group key (OVERFLOW_KEY: the overflow group)
        self._agree: dict[tuple[str, ...], tuple[float, bool]] = {}  # key -> (checked at, long history agrees)

    @property
    def signature(self) -> tuple[object, ...]:
        # z may change: it is read per call
        return (self.q, tuple(self.group_by), self.window, self.max_groups, self.max_window)

    def adopt(self, other: LatencyPercentile) -> None:
        """Continue with what `other` (the same policy before a config reload) has learned."""
        if other.signature == self.signature:
            self.groups, self.overflow, self.all = other.groups, other.overflow, other.all
            self.long, self._agree = other.long, other._agree

    def group_key(self, info: TraceInfo) -> tuple[str, ...]:
        t = info.trace
        if t.root_name is None:
            # Incomplete (the root is late, lost, or on another host): its duration is not comparable with
            # complete traces of any endpoint, so such traces learn a percentile of their own.
            return NO_ROOT_GROUP
        out = []
        for k in self.group_by:
            if k == "service.name":
                entry = info.scopes.entries.get(t.root_scope)
                if entry is None:
                    entry = info.scopes.entries.get(t.sid)
                out.append(entry.service if entry is not None else "")
            elif k == "span.name":
                out.append(t.root_name)
            else:
                out.append(info.root_attribute(k))
        return tuple(out)

    def sketch_for(self, key: tuple[str, ...]) -> WindowedSketch:
        sk = self.groups.get(key)
        if sk is None:
            if len(self.groups) >= self.max_groups:
                return self.overflow
            sk = self.groups[key] = WindowedSketch(self.window)
        return sk

    def threshold(self, key: tuple[str, ...], now: float, sk: WindowedSketch | None = None) -> float | None:
        """What a trace of group `key` (whose sketch is `sk`) is compared with at `now`."""
        if sk is None:
            sk = self.groups.get(key, self.overflow)
        if sk.count >= self.min_traces:
            thr = sk.quantile_cached(self.q, now, self.z)
        else:
            thr = self.all.quantile_cached(self.q, now, self.z)
        if self.max_window:
            lkey = key if sk is not self.overflow else OVERFLOW_KEY
            lsk = self.long.get(lkey)
            if lsk is not None and lsk.count > sk.count >= self.min_traces:
                # The long history changes slowly: its percentile is recomputed after 1/64 of it or a minute.
                long_thr = lsk.quantile_cached(self.q, now, self.z, max_age=60.0)
                if long_thr is not None and self._agrees(lkey, sk, lsk, long_thr, now):
                    thr = long_thr
        return thr

    def evaluate(self, info: TraceInfo) -> int | None:
        t = info.trace
        if self._default and t.root_name is not None:
            entry = info.scopes.entries.get(t.root_scope)
            key: tuple[str, ...] = (entry.service if entry is not None else "", t.root_name)
        else:
            key = self.group_key(info)
        sk = self.groups.get(key)
        if sk is None:
            sk = self.sketch_for(key)
        now = info.now
        if self.max_window:
            thr = self.threshold(key, now, sk)
        elif sk.count >= self.min_traces:
            thr = sk.quantile_cached(self.q, now, self.z)
        else:
            thr = self.all.quantile_cached(self.q, now, self.z)
        d = (t.end - t.start) / 1e9
        if d > 0.0:
            k: int | None = ceil(log(d) * INV_LOG_GAMMA)
        else:
            k, d = None, 0.0
        if self.max_window:
            self._long_sketch(key if sk is not self.overflow else OVERFLOW_KEY).add_key(k, now, d)
        sk.add_key(k, now, d)
        self.all.add_key(k, now, d)
        return 0 if thr is not None and d >= thr else None

    def _long_sketch(self, key: tuple[str, ...]) -> WindowedSketch:
        lsk = self.long.get(key)
        if lsk is None:
            lsk = self.long[key] = WindowedSketch(self.max_window, top=LONG_TOP)
        return lsk

    def _agrees(self, key: tuple[str, ...], sk: WindowedSketch, lsk: WindowedSketch, thr: float,
                now: float) -> bool:  # fmt: skip
        """Whether the last `window` has the long history's share of traces at or above `thr`, within DETECT_Z
        standard errors (checked every CHECK_EVERY seconds)."""
        at, ok = self._agree.get(key, (-math.inf, False))
        if 0.0 <= now - at < CHECK_EVERY:
            return ok
        above = sk.count_at_least(thr, now) if thr > 0.0 else None
        above_long = lsk.count_at_least(thr, now) if above is not None else None
        ok = False
        if above is not None and above_long is not None and lsk.count:
            n, p = sk.count, above_long / lsk.count
            ok = abs(above - n * p) <= DETECT_Z * math.sqrt(n * p * (1.0 - p)) + 1.0
        self._agree[key] = (now, ok)
        return ok


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
