"""One aggregated StatsD series per (type, name, tags): its cumulative state and its OTLP data point.

`add(values, weight, ts_ns)` is the hot path: `values` is the raw value text (`1`, `1.5`, `1:2:3`), `weight`
the number of identical lines times 1/sample rate. It returns None, or an error reason.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from typing import Any

from edgetel.receivers.statsd.parser import Attrs, LineError, parse_values

NO_RECORDED_VALUE = 1  # OTLP DataPointFlags.FLAG_NO_RECORDED_VALUE: the series is gone (a staleness marker)
MAX_SET_SIZE = 100_000
RESERVOIR = 1024

_MAX_COUNT = 2**62  # an OTLP count is a uint64; a sum of these stays in range


class Series:
    __slots__ = ("attrs", "kv", "last_seen_ns", "name", "start_ns", "ts_ns", "unit", "updated")
    kind = ""  # OTLP data field: sum, gauge, histogram, exponential_histogram, summary

    def __init__(self, name: str, attrs: Attrs, now_ns: int) -> None:
        self.name = name
        self.attrs = attrs
        self.start_ns = now_ns
        self.last_seen_ns = now_ns
        self.ts_ns = 0
        self.updated = False
        self.unit = ""
        self.kv: list[Any] | None = None  # KeyValue messages, built on the first flush

    def add(self, values: bytes, weight: float, ts_ns: int) -> str | None:
        raise NotImplementedError

    def fill(self, point: Any, now_ns: int) -> None:
        """Write this series' value into `point` (start/time and attributes are set by the caller)."""
        raise NotImplementedError

    def end_interval(self) -> None:
        """Forget the per-interval state (set members, summary reservoir)."""


class CounterSeries(Series):
    __slots__ = ("value",)
    kind = "sum"

    def __init__(self, name: str, attrs: Attrs, now_ns: int) -> None:
        super().__init__(name, attrs, now_ns)
        self.value = 0.0

    def add(self, values: bytes, weight: float, ts_ns: int) -> str | None:
        try:
            v = float(values)
        except ValueError:
            try:
                v = sum(parse_values(values))
            except LineError as e:
                return e.reason
        if v - v != 0:  # NaN or an infinity
            return "invalid_value"
        if v < 0:
            return "negative_counter"
        self.value += v * weight
        self.updated = True
        if ts_ns:
            self.ts_ns = ts_ns
        return None

    def fill(self, point: Any, now_ns: int) -> None:
        point.as_double = self.value


class GaugeSeries(Series):
    """A gauge. `add` sees the distinct lines of one digest from the latest to the earliest (by their last
    occurrence): the first absolute value seen wins, deltas seen before it are summed; a delta seen
    before an absolute value may also have occurred before it, so that gauge is replayed in packet order.
    A line with an invalid value changes nothing; the point's time is that of the last valid line with `|T`."""

    __slots__ = ("abs_value", "delta_sum", "deltas", "got", "last_ts", "mixed", "pending", "touched", "value")
    kind = "gauge"

    def __init__(self, name: str, attrs: Attrs, now_ns: int, deltas: bool, touched: list[GaugeSeries]) -> None:
        super().__init__(name, attrs, now_ns)
        self.value = 0.0
        self.deltas = deltas
        self.touched = touched  # the aggregator's list of gauges with pending lines in this digest
        self.pending = False
        self.abs_value: float | None = None
        self.last_ts = 0
        self.delta_sum = 0.0
        self.mixed = False
        self.got = False  # a valid value in this digest

    def add(self, values: bytes, weight: float, ts_ns: int) -> str | None:
        if not self.pending:
            self.pending = True
            self.abs_value = None
            self.last_ts = 0
            self.delta_sum = 0.0
            self.mixed = False
            self.got = False
            self.touched.append(self)
        if b":" in values:
            if _gauge_values(values) is None:
                return "invalid_value"
            self.mixed = self.got = True  # several values in one line: replay in order
            return None
        try:
            v = float(values)
        except ValueError:
            return "invalid_value"
        if v - v != 0:
            return "invalid_value"
        self.got = True
        if ts_ns and not self.last_ts:
            self.last_ts = ts_ns
        if self.deltas and values[:1] in (b"+", b"-"):
            if self.abs_value is None:
                self.delta_sum += v * weight
            # else: every occurrence of this delta came before the winning absolute value: overridden
        elif self.abs_value is None:
            self.abs_value = v
            if self.delta_sum:
                self.mixed = True
        return None

    def finish(self) -> bool:
        """Apply the digest's outcome; False when the gauge must be replayed in packet order instead."""
        self.pending = False
        if self.mixed:
            return False
        if not self.got:
            return True
        if self.abs_value is not None:
            self.value = self.abs_value
        else:
            self.value += self.delta_sum
        if self.last_ts:
            self.ts_ns = self.last_ts
        self.updated = True
        return True

    def set(self, values: bytes, ts_ns: int) -> str | None:
        """Apply one gauge line, in packet order: `+N`/`-N` is a delta when `gauge_deltas` is on."""
        parsed = _gauge_values(values)
        if parsed is None:
            return "invalid_value"
        for part, v in parsed:
            if self.deltas and part[:1] in (b"+", b"-"):
                self.value += v
            else:
                self.value = v
        self.updated = True
        if ts_ns:
            self.ts_ns = ts_ns
        return None

    def fill(self, point: Any, now_ns: int) -> None:
        point.as_double = self.value


def _gauge_values(values: bytes) -> list[tuple[bytes, float]] | None:
    """`v1:+v2:..` as (text, value) pairs; None when any value is invalid (then the line changes nothing)."""
    out = []
    for part in values.split(b":"):
        try:
            v = float(part)
        except ValueError:
            return None
        if v - v != 0:
            return None
        out.append((part, v))
    return out


class SetSeries(Series):
    __slots__ = ("members",)
    kind = "gauge"

    def __init__(self, name: str, attrs: Attrs, now_ns: int) -> None:
        super().__init__(name, attrs, now_ns)
        self.members: set[bytes] = set()

    def add(self, values: bytes, weight: float, ts_ns: int) -> str | None:
        if not values:
            return "invalid_value"
        if len(self.members) >= MAX_SET_SIZE and values not in self.members:
            return "set_too_large"
        self.members.add(values)
        self.updated = True
        return None

    def fill(self, point: Any, now_ns: int) -> None:
        point.as_int = len(self.members)

    def end_interval(self) -> None:
        self.members = set()


class _Observer(Series):
    """Common value handling of timers (`ms`, converted to seconds), histograms and distributions."""

    __slots__ = ("count", "scale", "sum")

    def __init__(self, name: str, attrs: Attrs, now_ns: int, seconds: bool) -> None:
        super().__init__(name, attrs, now_ns)
        self.scale = 0.001 if seconds else 1.0
        self.count = 0.0
        self.sum = 0.0

    def add(self, values: bytes, weight: float, ts_ns: int) -> str | None:
        try:
            vs = [float(values)]
        except ValueError:
            try:
                vs = parse_values(values)
            except LineError as e:
                return e.reason
        for v in vs:
            if v - v != 0:
                return "invalid_value"
            if v < 0 and self.scale != 1.0:
                return "negative_timer"
        for v in vs:
            self.observe(v * self.scale, weight)
        self.updated = True
        return None

    def observe(self, v: float, weight: float) -> None:
        raise NotImplementedError


class HistogramSeries(_Observer):
    __slots__ = ("bounds", "buckets")
    kind = "histogram"

    def __init__(self, name: str, attrs: Attrs, now_ns: int, seconds: bool, bounds: list[float]) -> None:
        super().__init__(name, attrs, now_ns, seconds)
        self.bounds = list(bounds)
        self.buckets = [0.0] * (len(bounds) + 1)

    def add(self, values: bytes, weight: float, ts_ns: int) -> str | None:
        try:
            v = float(values) * self.scale
        except ValueError:
            return super().add(values, weight, ts_ns)
        if v - v != 0:
            return "invalid_value"
        if v < 0 and self.scale != 1.0:
            return "negative_timer"
        self.buckets[bisect_left(self.bounds, v)] += weight
        self.count += weight
        self.sum += v * weight
        self.updated = True
        return None

    def observe(self, v: float, weight: float) -> None:
        # OTLP bucket i holds (bounds[i-1], bounds[i]]: bisect_left puts a value equal to a bound below it.
        self.buckets[bisect_left(self.bounds, v)] += weight
        self.count += weight
        self.sum += v * weight

    def fill(self, point: Any, now_ns: int) -> None:
        counts = [min(round(c), _MAX_COUNT) for c in self.buckets]
        point.count = sum(counts)
        point.sum = self.sum
        point.bucket_counts.extend(counts)
        point.explicit_bounds.extend(self.bounds)


class SummarySeries(_Observer):
    __slots__ = ("quantiles", "reservoir", "seen")
    kind = "summary"

    def __init__(self, name: str, attrs: Attrs, now_ns: int, seconds: bool, percentiles: list[float]) -> None:
        super().__init__(name, attrs, now_ns, seconds)
        self.quantiles = [p / 100.0 for p in percentiles]
        self.reservoir: list[float] = []
        self.seen = 0

    def observe(self, v: float, weight: float) -> None:
        self.count += weight
        self.sum += v * weight
        self.seen += 1
        if len(self.reservoir) < RESERVOIR:
            self.reservoir.append(v)
        else:  # uniform reservoir sampling keeps memory bounded
            i = random.randrange(self.seen)
            if i < RESERVOIR:
                self.reservoir[i] = v

    def fill(self, point: Any, now_ns: int) -> None:
        point.count = round(self.count)
        point.sum = self.sum
        values = sorted(self.reservoir)
        if not values:
            return
        for q in self.quantiles:
            pos = q * (len(values) - 1)
            lo = math.floor(pos)
            hi = min(lo + 1, len(values) - 1)
            qv = point.quantile_values.add()
            qv.quantile = q
            qv.value = values[lo] + (values[hi] - values[lo]) * (pos - lo)

    def end_interval(self) -> None:
        self.reservoir = []
        self.seen = 0


class ExponentialSeries(_Observer):
    """A cumulative base-2 exponential histogram that halves its resolution to stay within `max_size`."""

    __slots__ = ("max_size", "neg", "pos", "zero", "zscale")
    kind = "exponential_histogram"

    def __init__(self, name: str, attrs: Attrs, now_ns: int, seconds: bool, max_size: int) -> None:
        super().__init__(name, attrs, now_ns, seconds)
        self.max_size = max_size
        self.zscale = 20
        self.pos: dict[int, float] = {}
        self.neg: dict[int, float] = {}
        self.zero = 0.0

    def _index(self, v: float) -> int:
        scaled = math.log2(v) * (1 << self.zscale) if self.zscale >= 0 else math.log2(v) / (1 << -self.zscale)
        return math.ceil(scaled) - 1

    def observe(self, v: float, weight: float) -> None:
        self.count += weight
        self.sum += v * weight
        if v == 0:
            self.zero += weight
            return
        side = self.pos if v > 0 else self.neg
        i = self._index(abs(v))
        side[i] = side.get(i, 0.0) + weight
        while max(self._span(self.pos), self._span(self.neg)) > self.max_size and self.zscale > -10:
            self.zscale -= 1
            self.pos = self._halve(self.pos)
            self.neg = self._halve(self.neg)

    @staticmethod
    def _span(side: dict[int, float]) -> int:
        return max(side) - min(side) + 1 if side else 0

    @staticmethod
    def _halve(side: dict[int, float]) -> dict[int, float]:
        out: dict[int, float] = {}
        for i, c in side.items():
            out[i >> 1] = out.get(i >> 1, 0.0) + c
        return out

    def fill(self, point: Any, now_ns: int) -> None:
        point.scale = self.zscale
        point.sum = self.sum
        point.zero_count = round(self.zero)
        total = point.zero_count
        for side, msg in ((self.pos, point.positive), (self.neg, point.negative)):
            if side:
                lo = min(side)
                counts = [round(side.get(i, 0.0)) for i in range(lo, max(side) + 1)]
                msg.offset = lo
                msg.bucket_counts.extend(counts)
                total += sum(counts)
        point.count = total
