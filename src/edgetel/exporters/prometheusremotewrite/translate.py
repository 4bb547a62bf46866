"""OTLP metrics -> remote-write TimeSeries entries, with per-series state (see series.py).

A sample older than its series' last one is dropped here rather than poison a request with Prometheus' 400;
streams not seen for `stale_after` get stale markers; beyond `max_series` those with the oldest samples are forgotten.

Labels, lowest precedence first: point attributes (plus resource attributes with
resource_to_telemetry_conversion), sanitised, colliding names joined with `;` in original-key order; `job` and
`instance` from the resource; external labels unless already set; otel_scope_name/version, `__name__`, `le`
and `quantile`.
"""

from __future__ import annotations

import struct
import time
from typing import Any

from edgetel.exporters.prometheusremotewrite import encode as enc
from edgetel.exporters.prometheusremotewrite import naming as nm
from edgetel.exporters.prometheusremotewrite.cumulative import ExpHistogramSum, HistogramSum
from edgetel.exporters.prometheusremotewrite.native import clamp_scale, otlp_buckets, spans_and_deltas
from edgetel.exporters.prometheusremotewrite.otlpwire import field_slice, read_varint, skip_field
from edgetel.exporters.prometheusremotewrite.series import (
    Family,
    Pairs,
    Resource,
    Stats,
    Stream,
    any_str,
    attrs_from_bytes,
)
from edgetel.pdata import Metrics

_unpack_double = struct.Struct("<d").unpack
_U64 = struct.Struct("<Q").unpack_from
_I64 = struct.Struct("<q").unpack_from
ZERO = bytes(8)
pack = enc.pack_double
NO_RECORDED_VALUE = 1
DELTA = 1
_META_TYPES = {
    nm.GAUGE: enc.GAUGE, nm.COUNTER: enc.COUNTER, nm.UPDOWN: enc.GAUGE,
    nm.HISTOGRAM: enc.HISTOGRAM, nm.EXP_HISTOGRAM: enc.HISTOGRAM, nm.SUMMARY: enc.SUMMARY,
}  # fmt: skip


def _number_point(data: bytes, pos: int, end: int) -> tuple[int, bytes, bytes, int, int]:
    """(time ns, 8 value bytes, encoded attributes, flags, end) of a NumberDataPoint at data[pos:end]."""
    t, vb, attrs, flags = 0, ZERO, b"", 0
    while pos < end:
        tag = data[pos]
        if tag == 0x19:
            t = _U64(data, pos + 1)[0]
            pos += 9
        elif tag == 0x21:
            vb = data[pos + 1 : pos + 9]
            pos += 9
        elif tag == 0x31:
            vb = pack(float(_I64(data, pos + 1)[0]))
            pos += 9
        elif tag == 0x3A:
            start = pos
            while pos < end and data[pos] == 0x3A:
                pos = skip_field(data, pos)
            attrs = data[start:pos]
        elif tag == 0x40:
            flags, pos = read_varint(data, pos + 1)
        else:
            pos = skip_field(data, pos)
    return t, vb, attrs, flags, end


class Translator:
    def __init__(
        self,
        *,
        namespace: str = "",
        add_metric_suffixes: bool = True,
        resource_to_telemetry: bool = False,
        external_labels: dict[str, str] | None = None,
        target_info: bool = True,
        stale_after: float = 300.0,
        max_series: int = 50_000,
    ) -> None:
        self.namespace = namespace
        self.suffixes = add_metric_suffixes
        self.res_to_tel = resource_to_telemetry
        self.external = sorted((external_labels or {}).items())
        self.target_info = target_info
        self.stale_ms = int(stale_after * 1000)
        self.max_series = max_series
        self.stats = Stats()
        self.ts = enc.TimestampCache()
        self.clock = 0  # the newest sample timestamp seen (ms): staleness is judged on the data's own time
        self._last_scan = 0
        self._resources: dict[bytes, Resource] = {}
        self._families: dict[tuple[Any, ...], Family] = {}
        self._n_series = 0
        self._tombstones: dict[tuple[Any, bytes], int] = {}  # forgotten stream -> its stale marker's timestamp
        self.metadata: dict[str, bytes] = {}  # family name -> encoded WriteRequest.metadata
        self.new_metadata = False

    # -- labels
    def _labels(self, fam: Family, attrs: Pairs, name: str, extra: Pairs | None = None) -> bytes:
        pairs = attrs
        if self.res_to_tel and fam.res.attrs:
            keys = {k for k, _ in attrs}
            pairs = attrs + [kv for kv in fam.res.attrs if kv[0] not in keys]
        labels: dict[str, str] = {}
        for key, value in sorted(pairs, key=lambda kv: kv[0]):
            ln = nm.label_name(key)
            if ln:
                labels[ln] = f"{labels[ln]};{value}" if ln in labels else value
        labels.update(fam.res.identity)
        for k, v in self.external:
            labels.setdefault(k, v)
        labels.update(fam.fixed)
        labels["__name__"] = name
        if extra:
            labels.update(extra)
        return enc.encode_labels(labels.items())

    def _new_stream(self, fam: Family, attrs_bytes: bytes) -> Stream:
        attrs = attrs_from_bytes(attrs_bytes)
        name, kind = fam.name, fam.kind
        if kind == nm.EXP_HISTOGRAM:
            s = Stream(native=self._labels(fam, attrs, name))
        elif kind in (nm.HISTOGRAM, nm.SUMMARY):
            s = Stream(enc.float_prefix(self._labels(fam, attrs, name + "_count")))
            s.sum_prefix = enc.float_prefix(self._labels(fam, attrs, name + "_sum"))
        else:
            s = Stream(enc.float_prefix(self._labels(fam, attrs, name)))
        marker = self._tombstones.pop((fam.key, attrs_bytes), None)
        if marker is not None:  # older samples would land behind the stale marker: Prometheus refuses them
            s.last_ts = marker
        fam.streams[attrs_bytes] = s
        self._n_series += 1
        return s

    # -- families
    def _resource(self, key: bytes, resource: Any) -> Resource:
        res = self._resources.get(key)
        if res is None:
            if len(self._resources) > 4096:
                self._resources.clear()
            res = self._resources[key] = Resource([(str(kv.key), any_str(kv.value)) for kv in resource.attributes])
        return res

    def _family(self, res_key: bytes, res: Resource, scope: Any, scope_key: bytes, m: Any, data: str) -> Family | None:
        if data == "gauge":
            kind, delta = nm.GAUGE, False
        elif data == "sum":
            temporality = m.sum.aggregation_temporality
            if temporality not in (1, 2):
                return None
            kind, delta = (nm.COUNTER if m.sum.is_monotonic else nm.UPDOWN), temporality == DELTA
        elif data == "histogram":
            temporality = m.histogram.aggregation_temporality
            if temporality not in (1, 2):
                return None
            kind, delta = nm.HISTOGRAM, temporality == DELTA
        elif data == "exponential_histogram":
            temporality = m.exponential_histogram.aggregation_temporality
            if temporality not in (1, 2):
                return None
            kind, delta = nm.EXP_HISTOGRAM, temporality == DELTA
        else:
            kind, delta = nm.SUMMARY, False
        key = (res_key, scope_key, m.name, m.unit, kind, delta)
        fam = self._families.get(key)
        if fam is None:
            name = nm.metric_name(m.name, m.unit, kind, self.suffixes, self.namespace)
            fixed: Pairs = []
            if scope.name:
                fixed.append(("otel_scope_name", scope.name))
            if scope.version:
                fixed.append(("otel_scope_version", scope.version))
            fam = Family(key, name, kind, delta, res, fixed, m.description, nm.prom_unit(m.unit))
            self._families[key] = fam
            self._note_metadata(fam)
        elif fam.help != m.description:
            fam.help = m.description
            self._note_metadata(fam)
        fam.res = res  # the same attributes; the resource cache may have been refilled
        return fam

    def _note_metadata(self, fam: Family) -> None:
        entry = enc.metadata_entry(_META_TYPES[fam.kind], fam.name, fam.help, fam.unit)
        if self.metadata.get(fam.name) != entry:
            if len(self.metadata) >= self.max_series:
                self.metadata.clear()
            self.metadata[fam.name] = entry
            self.new_metadata = True

    # -- translation
    def translate(self, batch: Metrics, now_ms: int, out: enc.Requests) -> None:
        """Append the TimeSeries entries of `batch` (one sample each) to `out`, then stale markers that came due."""
        wall = time.monotonic()
        for rm in batch.request.resource_metrics:
            res_key = rm.resource.SerializeToString()
            res = self._resource(res_key, rm.resource)
            latest = 0
            for sm in rm.scope_metrics:
                scope_key = sm.scope.SerializeToString()
                for m in sm.metrics:
                    data = m.WhichOneof("data")
                    if data is None:
                        continue
                    fam = self._family(res_key, res, sm.scope, scope_key, m, data)
                    if fam is None:
                        self.stats.drop("unspecified_temporality", len(getattr(m, data).data_points))
                        continue
                    if data in ("gauge", "sum"):
                        ts = self._numbers(fam, getattr(m, data).SerializeToString(), out, now_ms)
                    elif data == "histogram":
                        ts = self._histograms(fam, m.histogram.data_points, out, now_ms)
                    elif data == "summary":
                        ts = self._summaries(fam, m.summary.data_points, out, now_ms)
                    else:
                        ts = self._exp_histograms(fam, m.exponential_histogram.data_points, out, now_ms)
                    latest = max(latest, ts)
            res.clock = max(res.clock, latest)
            res.seen = wall
            if self.target_info and latest and res.info and res.identity:
                self._target_info(res_key, res, latest, out)
        if self.stale_ms and self.clock - self._last_scan >= min(self.stale_ms // 4, 30_000):
            self.expire(self.clock, out)
        if self._n_series > self.max_series:
            self._evict()
        self.stats.series = self._n_series

    def _numbers(self, fam: Family, data: bytes, out: enc.Requests, now_ms: int) -> int:
        """Gauge and sum points straight from their serialized `Gauge` / `Sum` (data_points = 1). Point tags:
        time 0x19, as_double 0x21, as_int 0x31, attributes 0x3a (contiguous), flags 0x40; others skipped.
        The hot loop: request bytes are appended in place (see enc.Requests.append)."""
        streams, tsget, delta = fam.streams, self.ts.get, fam.delta
        buf, count, max_n, max_b = out.buf, out.count, out.max_samples, out.max_bytes
        latest = last_t = t_ms = 0
        tsb = b""
        short_ts = True  # the timestamp varint has 6 bytes: entries are prefix + value + timestamp
        pos, n = 0, len(data)
        while pos < n:
            if data[pos] != 0x0A:  # aggregation_temporality, is_monotonic
                pos = skip_field(data, pos)
                continue
            length = data[pos + 1]
            if length < 0x80:
                pos += 2
            elif data[pos + 2] < 0x80:
                length = (length & 0x7F) | (data[pos + 2] << 7)
                pos += 3
            else:
                length, pos = read_varint(data, pos + 1)
            end = pos + length
            # Fast path for upb's layout: [start_time] time value attributes... (no exemplars, no flags).
            p = pos + 9 if data[pos] == 0x11 else pos
            fast = end > p + 19 and data[p] == 0x19 and data[p + 9] == 0x21 and data[p + 18] == 0x3A
            if fast and data[end - 2] != 0x40:
                t = _U64(data, p + 1)[0]
                vb = data[p + 10 : p + 18]
                attrs = data[p + 18 : end]
                flags = 0
                pos = end
            else:
                t, vb, attrs, flags, pos = _number_point(data, pos, end)
            s = streams.get(attrs)
            if s is None:
                s = self._new_stream(fam, attrs)
            if t != last_t or not t:
                last_t = t
                t_ms = t // 1_000_000 if t else now_ms
                tsb = tsget(t_ms)
                short_ts = len(tsb) == 7
                latest = max(latest, t_ms)
            if flags & NO_RECORDED_VALUE:
                vb = enc.STALE
            elif delta:
                s.cum = (s.cum or 0.0) + _unpack_double(vb)[0]
                vb = pack(s.cum)
            if t_ms <= s.last_ts:
                self.stats.drop("out_of_order")
                continue
            prefix = s.prefix
            if count and (count >= max_n or len(buf) + len(prefix) + 16 > max_b):
                out.buf, out.count = buf, count
                out.roll()
                buf, count = out.buf, 0
            if short_ts:
                buf += prefix
                buf += vb
                buf += tsb
            else:
                buf += enc.float_entry(prefix, vb, tsb)
            count += 1
            s.last_ts = t_ms
        out.buf, out.count = buf, count
        self.clock = max(self.clock, latest)
        return latest

    def _stream_for(self, fam: Family, dp: Any, tag: int) -> Stream:
        attrs = field_slice(dp.SerializeToString(), tag)
        s = fam.streams.get(attrs)
        return s if s is not None else self._new_stream(fam, attrs)

    def _accept(self, s: Stream, t_ms: int, samples: int) -> bool:
        if t_ms <= s.last_ts:
            self.stats.drop("out_of_order", samples)
            return False
        s.last_ts = t_ms
        self.clock = max(self.clock, t_ms)
        return True

    def _emit(self, out: enc.Requests, prefix: bytes, value: float | bytes, tsb: bytes) -> None:
        out.append(enc.float_entry(prefix, value if isinstance(value, bytes) else pack(value), tsb))

    def _histograms(self, fam: Family, points: Any, out: enc.Requests, now_ms: int) -> int:
        latest = 0
        for dp in points:
            s = self._stream_for(fam, dp, 0x4A)
            bounds = tuple(dp.explicit_bounds)
            counts: list[int] = list(dp.bucket_counts)
            count, total, has_sum = dp.count, dp.sum, dp.HasField("sum")
            if fam.delta and not dp.flags & NO_RECORDED_VALUE:
                if s.cum is None:
                    s.cum = HistogramSum(bounds)
                s.cum.add(bounds, counts, count, total)
                counts, count, total = list(s.cum.counts), s.cum.count, s.cum.sum
            t_ms = dp.time_unix_nano // 1_000_000 or now_ms
            if not self._accept(s, t_ms, len(bounds) + 3):
                continue
            if s.bounds != bounds:
                self._bucket_labels(fam, s, dp, bounds)
            tsb = self.ts.get(t_ms)
            stale = bool(dp.flags & NO_RECORDED_VALUE)
            if len(counts) == len(bounds) + 1 or stale:
                cum = 0
                for i, prefix in enumerate(s.buckets[:-1]):
                    cum += counts[i] if i < len(counts) else 0
                    self._emit(out, prefix, enc.STALE if stale else float(cum), tsb)
            self._emit(out, s.buckets[-1], enc.STALE if stale else float(count), tsb)
            if has_sum or stale:
                self._emit(out, s.sum_prefix, enc.STALE if stale else total, tsb)
            self._emit(out, s.prefix, enc.STALE if stale else float(count), tsb)
            latest = max(latest, t_ms)
        return latest

    def _bucket_labels(self, fam: Family, s: Stream, dp: Any, bounds: tuple[float, ...]) -> None:
        attrs = attrs_from_bytes(field_slice(dp.SerializeToString(), 0x4A))
        name = fam.name + "_bucket"
        s.buckets = [
            enc.float_prefix(self._labels(fam, attrs, name, [("le", nm.format_float(b))]))
            for b in (*bounds, float("inf"))
        ]
        s.bounds = bounds

    def _summaries(self, fam: Family, points: Any, out: enc.Requests, now_ms: int) -> int:
        latest = 0
        for dp in points:
            s = self._stream_for(fam, dp, 0x3A)
            t_ms = dp.time_unix_nano // 1_000_000 or now_ms
            stale = bool(dp.flags & NO_RECORDED_VALUE)
            if not self._accept(s, t_ms, len(dp.quantile_values) + 2):
                continue
            tsb = self.ts.get(t_ms)
            for qv in dp.quantile_values:
                prefix = s.quantiles.get(qv.quantile)
                if prefix is None:
                    attrs = attrs_from_bytes(field_slice(dp.SerializeToString(), 0x3A))
                    labels = self._labels(fam, attrs, fam.name, [("quantile", nm.format_float(qv.quantile))])
                    prefix = s.quantiles[qv.quantile] = enc.float_prefix(labels)
                self._emit(out, prefix, enc.STALE if stale else qv.value, tsb)
            self._emit(out, s.sum_prefix, enc.STALE if stale else dp.sum, tsb)
            self._emit(out, s.prefix, enc.STALE if stale else float(dp.count), tsb)
            latest = max(latest, t_ms)
        return latest

    def _exp_histograms(self, fam: Family, points: Any, out: enc.Requests, now_ms: int) -> int:
        latest = 0
        for dp in points:
            stale = bool(dp.flags & NO_RECORDED_VALUE)
            if not stale and (dp.scale < -4 or not dp.HasField("sum")):
                self.stats.drop("invalid_exponential_histogram")
                continue
            s = self._stream_for(fam, dp, 0x0A)
            scale, (pos, neg) = clamp_scale(
                dp.scale,
                [otlp_buckets(dp.positive.offset, dp.positive.bucket_counts),
                 otlp_buckets(dp.negative.offset, dp.negative.bucket_counts)],
            )  # fmt: skip
            count, total, zero = dp.count, dp.sum, dp.zero_count
            if fam.delta and not stale:
                if s.cum is None:
                    s.cum = ExpHistogramSum(scale)
                s.cum.add(scale, count, total, zero, pos, neg)
                scale, count, total, zero = s.cum.scale, s.cum.count, s.cum.sum, s.cum.zero_count
                pos, neg = s.cum.positive, s.cum.negative
            t_ms = dp.time_unix_nano // 1_000_000 or now_ms
            if not self._accept(s, t_ms, 1):
                continue
            out.append(self._native(s, t_ms, stale, scale, count, total, zero, dp.zero_threshold, pos, neg))
            latest = max(latest, t_ms)
        return latest

    def _native(
        self, s: Stream, t_ms: int, stale: bool, scale: int = 0, count: int = 0, total: float = 0.0,
        zero: int = 0, zero_threshold: float = 0.0, pos: dict[int, int] | None = None,
        neg: dict[int, int] | None = None,
    ) -> bytes:  # fmt: skip
        hist = enc.native_histogram(
            count=enc.STALE_NAN_BITS if stale else count,
            sum_bytes=enc.STALE if stale else pack(total),
            schema=scale,
            zero_threshold=zero_threshold or 1e-128,
            zero_count=zero,
            positive=spans_and_deltas(pos or {}),
            negative=spans_and_deltas(neg or {}),
            timestamp_ms=t_ms,
        )
        return enc.histogram_entry(s.native, hist)

    def _target_info(self, res_key: bytes, res: Resource, t_ms: int, out: enc.Requests) -> None:
        key = (res_key, "target_info")
        fam = self._families.get(key)
        if fam is None:
            name = f"{self.namespace}_target_info" if self.namespace else "target_info"
            fam = self._families[key] = Family(key, name, nm.GAUGE, False, res, [], "Target metadata", "")
            self._note_metadata(fam)
        s = fam.streams.get(b"")
        if s is None:
            saved, self.res_to_tel = self.res_to_tel, False
            try:
                s = Stream(enc.float_prefix(self._labels(fam, res.info, fam.name)))
            finally:
                self.res_to_tel = saved
            s.last_ts = self._tombstones.pop((key, b""), s.last_ts)
            fam.streams[b""] = s
            self._n_series += 1
        if self._accept(s, t_ms, 1):
            self._emit(out, s.prefix, 1.0, self.ts.get(t_ms))

    # -- staleness and bounds
    def expire(self, clock_ms: int, out: enc.Requests) -> None:
        """Stale markers for streams without a sample for `stale_after`, judged on their resource's clock (its
        newest sample), or on `clock_ms` when the whole resource went silent that long, both in sample time and
        in arrival time (a source whose clock lags is not silent; nor is a backlog after an outage). Expired streams are
        forgotten; a tombstone keeps their marker's timestamp so that a late sample is dropped here, not sent
        behind the marker (Prometheus would refuse the whole request)."""
        self._last_scan = clock_ms
        if not self.stale_ms:
            return
        before = out.samples()
        wall = time.monotonic()
        for key, fam in list(self._families.items()):
            res = fam.res
            silent = clock_ms - res.clock > self.stale_ms and (wall - res.seen) * 1000 > self.stale_ms
            ref = clock_ms if silent else res.clock
            limit = ref - self.stale_ms
            gone = [k for k, s in fam.streams.items() if s.last_ts < limit]
            for k in gone:
                s = fam.streams.pop(k)
                self._n_series -= 1
                ts = max(ref, s.last_ts + 1)
                tsb = self.ts.get(ts)
                for prefix in s.float_prefixes():
                    out.append(enc.float_entry(prefix, enc.STALE, tsb))
                if s.native:
                    out.append(self._native(s, ts, True))
                self._tombstones[(key, k)] = ts
            if not fam.streams:
                del self._families[key]
        while len(self._tombstones) > self.max_series:
            del self._tombstones[next(iter(self._tombstones))]
        self.stats.stale_markers += out.samples() - before
        self.stats.series = self._n_series

    def _evict(self) -> None:
        """Forget the tenth of the streams with the oldest samples (their delta sums restart)."""
        entries = [(s.last_ts, fkey, skey) for fkey, fam in self._families.items() for skey, s in fam.streams.items()]
        entries.sort(key=lambda e: e[0])
        n = max(len(entries) - self.max_series, len(entries) // 10)
        for _, fkey, skey in entries[:n]:
            fam = self._families[fkey]
            del fam.streams[skey]
            if not fam.streams:
                del self._families[fkey]
        self._n_series -= n
        self.stats.evicted += n

    def metadata_entries(self) -> list[bytes]:
        self.new_metadata = False
        return list(self.metadata.values())
