"""The StatsD aggregator: digests buffered packets into series and builds one OTLP batch per interval.

Listeners copy packets back to back into a buffer, handed to `digest` as one blob. The compiled path
(`edgetel._native.statsd.Table`) aggregates counters, explicit histograms/timers and gauges line by line in C
into accumulators (`Acc`) that `sync` adds to the Python series before they are read; it returns the lines it
does not take (events, service checks, sets, summaries, exponential histograms, malformed lines) to the Python
path below, the reference implementation, which also runs alone when the module is not built or
`EDGETEL_STATSD_PYTHON=1`. The Python path splits the blob and counts identical lines with
`collections.Counter` (C), so Python code runs once per *distinct* line: find `:` and `|`, look the
`name|tail` prefix up in a bounded cache (tags are parsed once per prefix), and add `value * count / rate` to
the series. Gauges need packet order (a later `10` overrides an earlier `+1`), so one regex (C) pulls the gauge
lines out in order for a second pass.

The aggregator outlives reloads (kept in `ctx.state`): counters stay cumulative with a stable start
time; only a restart of edgetel resets them.
"""

from __future__ import annotations

import logging
import os
import re
import time
from bisect import bisect_left
from collections import Counter
from typing import Any

from edgetel._native import load
from edgetel.receivers.statsd.config import StatsdConfig
from edgetel.receivers.statsd.parser import LineError, Prefix, classify, parse_prefix
from edgetel.receivers.statsd.series import (
    NO_RECORDED_VALUE,
    CounterSeries,
    ExponentialSeries,
    GaugeSeries,
    HistogramSeries,
    Series,
    SetSeries,
    SummarySeries,
)
from edgetel.telemetry.selfmetrics import Child, Registry

_GAUGE_RE = re.compile(rb"^([^:|\n]+):([^|\n]*)\|(g(?:\|[^\n]*|\r)?)$", re.MULTILINE)
MAX_CACHE = 200_000
SLOW = "slow"  # cache marker: not a metric line (event, service check) -> classify it per line
# series, 1/rate, timestamp ns, error reason, fast path (1 counter, 2 explicit histogram, 0 none)
Entry = tuple[Any, float, int, str | None, int]  # Any: the fast paths use subclass fields
SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]

_MAX_CACHE = 200_000  # distinct (name, tags) line prefixes remembered; cleared wholesale when full
_native = load("statsd")


class Aggregator:
    def __init__(self, registry: Registry, receiver: str, logger: logging.Logger, native: bool | None = None) -> None:
        """`native`: use the compiled path (default: when built, unless `EDGETEL_STATSD_PYTHON=1`)."""
        if native is None:
            native = os.environ.get("EDGETEL_STATSD_PYTHON") != "1"
        self._table = _native.Table() if native and _native is not None else None
        self._accs: dict[int, Any] = {}  # id(series) -> its Acc (one per series: gauges need packet order)
        self.series: dict[SeriesKey, Series] = {}
        self._touched: list[GaugeSeries] = []
        self._cache: dict[tuple[bytes, bytes], Entry] = {}  # (name, tail) -> entry
        self.cfg = StatsdConfig()
        self.logger = logger
        self.last_flush = 0.0
        self.receiver = receiver
        self._registry = registry
        self._errors = registry.counter(
            "edgetel_statsd_parse_errors_total", "StatsD lines skipped as malformed, by reason", ("receiver", "reason")
        )
        self._error_children: dict[str, Child] = {}
        self._events = registry.counter(
            "edgetel_statsd_events_total", "DogStatsD events received (parsed and counted)", ("receiver",)
        ).labels(receiver)
        self._checks = registry.counter(
            "edgetel_statsd_service_checks_total", "DogStatsD service checks received (parsed, counted)", ("receiver",)
        ).labels(receiver)
        self._dropped = registry.counter(
            "edgetel_statsd_series_dropped_total",
            "lines dropped because they would create a series past max_series",
            ("receiver",),
        ).labels(receiver)
        self._expired = registry.counter(
            "edgetel_statsd_series_expired_total", "series removed after series_ttl without data", ("receiver",)
        ).labels(receiver)
        registry.gauge("edgetel_statsd_series", "StatsD series held by the aggregator", ("receiver",)).set_function(
            (receiver,), lambda: len(self.series)
        )
        self._lines: dict[str, tuple[Child, Child]] = {}
        self._limit_logged = False

    def configure(self, cfg: StatsdConfig) -> None:
        """Apply a (reloaded) config. Existing series keep their state (and histogram buckets)."""
        self.cfg = cfg
        self._forget_prefixes()
        for series in self.series.values():
            if isinstance(series, GaugeSeries):
                series.deltas = cfg.gauge_deltas
        self._limit_logged = False

    def line_counters(self, transport: str) -> tuple[Child, Child]:
        pair = self._lines.get(transport)
        if pair is None:
            received = self._registry.counter(
                "edgetel_statsd_lines_received_total", "non-empty StatsD lines received", ("receiver", "transport")
            )
            parsed = self._registry.counter(
                "edgetel_statsd_lines_parsed_total",
                "StatsD lines parsed and aggregated (events and service checks included)",
                ("receiver", "transport"),
            )
            pair = self._lines[transport] = (
                received.labels(self.receiver, transport),
                parsed.labels(self.receiver, transport),
            )
        return pair

    def _error(self, reason: str, n: int) -> None:
        child = self._error_children.get(reason)
        if child is None:
            child = self._error_children[reason] = self._errors.labels(self.receiver, reason)
        child.inc(n)

    # ---- hot path -------------------------------------------------------------------------------------

    def digest(self, blob: bytes, transport: str) -> None:
        """Aggregate newline-separated lines (one or many packets)."""
        received, parsed_child = self.line_counters(transport)
        if self._table is not None:
            n, parsed, rest = self._table.digest(blob, self._native_resolve)
            received.inc(n)
            if parsed:
                parsed_child.inc(parsed)
            if rest:
                self._digest_lines(rest, None, parsed_child)
            return
        received.inc(self._digest_lines(blob.split(b"\n"), blob, parsed_child))

    def _digest_lines(self, lines: list[bytes], blob: bytes | None, parsed_child: Child) -> int:
        """The Python path: aggregate `lines` (of `blob`, or joined when needed); returns the non-empty lines."""
        # C: Python code below runs once per distinct line, latest first (the order gauges need).
        counts = Counter(reversed(lines))
        nonempty = len(lines) - counts.pop(b"", 0)
        ordered = lines if blob is None else blob  # for a gauge replay
        del lines
        cache = self._cache
        if len(cache) > MAX_CACHE:
            cache.clear()
        get = cache.get
        resolve = self._resolve
        parsed = 0
        errors: dict[str, int] = {}
        for line, cnt in counts.items():
            head, bar, tail = line.partition(b"|")
            name, colon, values = head.partition(b":")
            if name and colon and bar:
                key = (name, tail)
                entry = get(key)
                if entry is None:
                    entry = resolve(name, tail, key)
                series, inv_rate, ts, reason, code = entry
                # Inline fast paths for counters and explicit histograms (a call costs as much as the work);
                # anything unusual falls through to `series.add`, which also names the error.
                if code == 1:
                    try:
                        v = float(values)
                    except ValueError:
                        v = -1.0
                    if v >= 0.0 and v - v == 0.0:
                        series.value += v * cnt * inv_rate
                        series.updated = True
                        if ts:
                            series.ts_ns = ts
                        parsed += cnt
                        continue
                elif code == 2:
                    try:
                        v = float(values) * series.scale
                    except ValueError:
                        v = -1.0
                    if v - v == 0.0 and (v >= 0.0 or series.scale == 1.0):
                        w = cnt * inv_rate
                        series.buckets[bisect_left(series.bounds, v)] += w
                        series.count += w
                        series.sum += v * w
                        series.updated = True
                        parsed += cnt
                        continue
                if series is not None:
                    err = series.add(values, cnt * inv_rate, ts)
                    if err is None:
                        parsed += cnt
                    else:
                        errors[err] = errors.get(err, 0) + cnt
                    continue
                if reason is not SLOW:
                    assert reason is not None
                    errors[reason] = errors.get(reason, 0) + cnt
                    continue
            parsed += self._other(line, cnt, errors)
        if self._touched:
            replay = {g for g in self._touched if not g.finish()}
            self._touched.clear()
            if replay:
                self._replay_gauges(ordered if isinstance(ordered, bytes) else b"\n".join(ordered), replay)
        if parsed:
            parsed_child.inc(parsed)
        for reason, n in errors.items():
            if reason == "max_series":
                self._dropped.inc(n)
            else:
                self._error(reason, n)
        return nonempty

    def _replay_gauges(self, blob: bytes, replay: set[GaugeSeries]) -> None:
        """Apply the lines of `replay` gauges in packet order (a C regex finds the gauge lines). Their lines
        were already counted as parsed (or as errors) by the first pass."""
        get = self._cache.get
        for name, values, tail in _GAUGE_RE.findall(blob):
            entry = get((name, tail))
            series = entry[0] if entry is not None else None
            if series in replay:
                assert isinstance(series, GaugeSeries)
                series.set(values, entry[2])  # type: ignore[index]

    def _other(self, line: bytes, cnt: int, errors: dict[str, int]) -> int:
        """Events, service checks and malformed lines; returns the number of lines parsed."""
        try:
            kind = classify(line)
        except LineError as e:
            errors[e.reason] = errors.get(e.reason, 0) + cnt
            return 0
        (self._events if kind == "event" else self._checks).inc(cnt)
        return cnt

    def _native_resolve(self, name: bytes, tail: bytes) -> tuple[Any, float, int] | None:
        """The compiled path's look-up of a new prefix: `(None, 0.0, 0)` for the lines the Python path takes
        (errors, events, refused series, sets, summaries...), else `(Acc, 1/rate, timestamp ns)`."""
        assert _native is not None
        key = (name, tail)
        series, inv_rate, ts, _, _ = self._cache.get(key) or self._resolve(name, tail, key)
        if series is None:
            return (None, 0.0, 0)  # cached: a refused series stays refused until the table is cleared
        acc = self._accs.get(id(series))
        if acc is None:
            if isinstance(series, CounterSeries):
                acc = _native.Acc(series, 1)
            elif isinstance(series, HistogramSeries):
                acc = _native.Acc(series, 2, scale=series.scale, bounds=series.bounds)
            elif isinstance(series, GaugeSeries):
                acc = _native.Acc(series, 3, deltas=series.deltas)
            else:
                return (None, 0.0, 0)
            self._accs[id(series)] = acc
        return (acc, inv_rate, ts)

    def _sync(self) -> None:
        """Apply what the compiled path aggregated to the series (before anything reads them)."""
        if self._table is not None:
            self._table.sync()

    def _forget_prefixes(self) -> None:
        self._sync()
        self._cache.clear()
        if self._table is not None:
            self._table.clear()
            self._accs.clear()

    def _resolve(self, name_raw: bytes, tail: bytes, key: tuple[bytes, bytes]) -> Entry:
        entry: Entry
        if name_raw.startswith(b"_e{") or name_raw.startswith(b"_sc|"):
            entry = (None, 0.0, 0, SLOW, 0)
        else:
            try:
                prefix = parse_prefix(name_raw, tail)
            except LineError as e:
                entry = (None, 0.0, 0, e.reason, 0)
            else:
                series = self._series(prefix)
                inv_rate = 1.0 if prefix.type == "g" else 1.0 / prefix.rate  # gauges ignore sample rates
                code = 1 if isinstance(series, CounterSeries) else 2 if isinstance(series, HistogramSeries) else 0
                entry = (series, inv_rate, prefix.timestamp_ns, None if series else "max_series", code)
        if entry[0] is not None:  # errors and refused series are not cached: garbage must not grow memory
            if len(self._cache) >= _MAX_CACHE:
                self._cache.clear()
            self._cache[key] = entry
        return entry

    def _series(self, p: Prefix) -> Series | None:
        key: SeriesKey = (p.type, p.name, p.attrs)
        series = self.series.get(key)
        if series is not None:
            return series
        if len(self.series) >= self.cfg.max_series:
            if not self._limit_logged:
                self._limit_logged = True
                self.logger.warning(
                    "statsd series limit reached: new series are dropped",
                    extra={"receiver": self.receiver, "max_series": self.cfg.max_series, "series": p.name},
                )
            return None
        now = time.time_ns()
        if p.type == "c":
            series = CounterSeries(p.name, p.attrs, now)
        elif p.type == "g":
            series = GaugeSeries(p.name, p.attrs, now, self.cfg.gauge_deltas, self._touched)
        elif p.type == "s":
            series = SetSeries(p.name, p.attrs, now)
        else:
            mapping = self.cfg.observer_for(p.type)
            seconds = p.type == "ms"
            if mapping.observer_type == "summary":
                series = SummarySeries(p.name, p.attrs, now, seconds, mapping.summary.percentiles)
            elif mapping.observer_type == "exponential_histogram":
                series = ExponentialSeries(p.name, p.attrs, now, seconds, mapping.histogram.max_size)
            else:
                series = HistogramSeries(p.name, p.attrs, now, seconds, self.cfg.buckets_for(p.name))
            if seconds:
                series.unit = "s"
        self.series[key] = series
        return series

    # ---- flush ----------------------------------------------------------------------------------------

    def flush(self, now_ns: int | None = None, force: bool = False) -> Any:
        """One `Metrics` batch with every live series (None when another receiver flushed just now)."""
        from edgetel.pdata.batch import Metrics

        now_s = time.time() if now_ns is None else now_ns / 1e9
        if not force and now_s - self.last_flush < self.cfg.aggregation_interval / 2:
            return None
        self._sync()
        self.last_flush = now_s
        now = int(now_s * 1e9)
        ttl = int(self.cfg.series_ttl * 1e9)
        batch = Metrics()
        rm = batch.request.resource_metrics.add()
        for k, v in sorted(self.cfg.resource_attributes.items()):
            rm.resource.attributes.add(key=k).value.string_value = v
        sm = rm.scope_metrics.add()
        sm.scope.name = "edgetel/statsd"
        metrics: dict[tuple[str, str, str], Any] = {}
        expired: list[SeriesKey] = []
        for key, s in self.series.items():
            gone = False
            if s.updated:
                s.updated = False
                s.last_seen_ns = now
            elif s.last_seen_ns == s.start_ns:  # created by a line whose value was invalid: nothing to say
                if ttl and now - s.start_ns >= ttl:
                    expired.append(key)
                continue
            elif ttl and now - s.last_seen_ns >= ttl:
                gone = True
                expired.append(key)
            mkey = (s.name, s.kind, s.unit)
            metric = metrics.get(mkey)
            if metric is None:
                metric = metrics[mkey] = sm.metrics.add(name=s.name, unit=s.unit)
                _init_metric(metric, s)
            point = getattr(metric, s.kind).data_points.add()
            if s.kv is None:
                s.kv = _key_values(s.attrs)
            point.attributes.extend(s.kv)
            if s.kind != "gauge":
                point.start_time_unix_nano = s.start_ns
            point.time_unix_nano = s.ts_ns if s.ts_ns and s.kind == "gauge" else now
            if gone:
                point.flags = NO_RECORDED_VALUE
            else:
                s.fill(point, now)
            s.end_interval()
        if expired:
            for key in expired:
                del self.series[key]
            self._expired.inc(len(expired))
            self._forget_prefixes()
        return batch


def _init_metric(metric: Any, s: Series) -> None:
    if s.kind == "sum":
        metric.sum.is_monotonic = True
        metric.sum.aggregation_temporality = 2  # CUMULATIVE
    elif s.kind in ("histogram", "exponential_histogram"):
        getattr(metric, s.kind).aggregation_temporality = 2
    else:
        getattr(metric, s.kind).SetInParent()


def _key_values(attrs: tuple[tuple[str, str], ...]) -> list[Any]:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    return [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attrs]
