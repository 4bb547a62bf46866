"""The spanmetrics connector: per service, span name, span kind and status code (plus configured dimensions), a
calls counter and a duration histogram, computed from every span it sees and emitted every
`metrics_flush_interval` into the metrics pipelines it feeds.

Cumulative series keep one start time (the first creation of the aggregator, kept across reloads). A refused
flush loses nothing: cumulative values are simply sent again next time, delta values are kept until sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

from edgetel._native import load
from edgetel.component.errors import ConsumeError, PermanentError
from edgetel.component.factory import CreateContext
from edgetel.component.ids import Signal
from edgetel.component.protocols import Consumer
from edgetel.connectors.spanmetrics.config import CUMULATIVE, SpanMetricsConfig
from edgetel.pdata import Batch, Metrics, Traces

_KINDS = ("SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT",
          "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER")  # fmt: skip
_CODES = ("STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR")
_OVERFLOW = ("\x00overflow",)
_BASE = ("service.name", "span.name", "span.kind", "status.code")

# Per resource: (service.name, the dimensions' values on the resource, per (span name, kind, status code,
# the dimensions' values on the span): (spans, duration sum, bucket counts)); a value None: absent.
Block = tuple[str, tuple[Any, ...], list[tuple[str, int, int, tuple[Any, ...], int, float, list[int]]]]
_c = load("tailsampling")
native_span_metrics: Callable[[bytes, float, list[float], list[str]], list[Block] | None] | None = (
    _c.span_metrics if _c is not None else None
)

SeriesKey = tuple[str, ...]


class _Series:
    __slots__ = ("buckets", "calls", "sum")

    def __init__(self, nbuckets: int) -> None:
        self.calls = 0
        self.sum = 0.0
        self.buckets = [0] * nbuckets


class Aggregator:
    """The series, by (service, span name, kind, status, dimension values...)."""

    def __init__(self, cfg: SpanMetricsConfig) -> None:
        self.signature = _signature(cfg)
        self.start_ns = time.time_ns()
        self.scale = 1.0 if cfg.histogram.unit == "s" else 1000.0
        self.bounds = [float(b) * self.scale for b in cfg.histogram.explicit.buckets]
        self.series: dict[tuple[str, SeriesKey], _Series] = {}  # (service, key) -> series
        self.limit = cfg.cardinality_limit
        excluded = set(cfg.exclude_dimensions)
        self.base = [n for n in ("service.name", "span.name", "span.kind", "status.code") if n not in excluded]
        self.dims = [(d.name, d.default) for d in cfg.dimensions]
        self.overflow_spans = 0

    def reset(self) -> None:
        for s in self.series.values():
            s.calls, s.sum = 0, 0.0
            s.buckets = [0] * len(s.buckets)


def _signature(cfg: SpanMetricsConfig) -> tuple[object, ...]:
    return (cfg.histogram.unit, tuple(cfg.histogram.explicit.buckets), tuple((d.name, d.default) for d in
            cfg.dimensions), tuple(cfg.exclude_dimensions), cfg.aggregation_temporality)  # fmt: skip


class SpanMetricsConnector:
    mutates = False

    def __init__(self, ctx: CreateContext, cfg: SpanMetricsConfig, consumers: Mapping[Signal, Consumer]) -> None:
        self._ctx = ctx
        self._cfg = cfg
        self._next = consumers.get(Signal.METRICS)
        agg = ctx.state.get("aggregator")
        if not isinstance(agg, Aggregator) or agg.signature != _signature(cfg):
            agg = ctx.state["aggregator"] = Aggregator(cfg)
        agg.limit = cfg.cardinality_limit
        self.agg = agg
        self._cumulative = cfg.aggregation_temporality == CUMULATIVE
        ns = cfg.namespace
        self._calls_name = f"{ns}.calls" if ns else "calls"
        self._duration_name = f"{ns}.duration" if ns else "duration"
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._last_flush_ns = agg.start_ns
        reg, name = ctx.metrics, str(ctx.id)
        self._spans = reg.counter(
            "edgetel_spanmetrics_spans_total", "spans aggregated into request metrics", ("connector",)
        ).labels(name)
        self._overflow = reg.counter(
            "edgetel_spanmetrics_overflow_spans_total",
            "spans counted in the overflow series because aggregation_cardinality_limit was reached",
            ("connector",),
        ).labels(name)
        self._flush_failed = reg.counter(
            "edgetel_spanmetrics_flush_failed_total", "metric flushes the metrics pipeline refused", ("connector",)
        ).labels(name)
        self._series_gauge = reg.gauge("edgetel_spanmetrics_series", "series held", ("connector",))
        self._series_gauge.set_function((name,), lambda: float(len(self.agg.series)))
        self._name = name

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
        self._series_gauge.set_function((self._name,), None)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(float(self._cfg.metrics_flush_interval))
            try:
                await self.flush()
            except Exception:
                self._ctx.logger.exception("spanmetrics flush failed", extra={"connector": self._name})

    async def consume(self, batch: Batch) -> None:
        if not isinstance(batch, Traces):
            raise PermanentError("spanmetrics consumes traces")
        agg = self.agg
        blocks = None
        if native_span_metrics is not None:
            # Without received bytes (a processor changed the batch), one serialization is still much cheaper
            # than reading every span through protobuf objects.
            raw = batch.received_bytes() or bytes(batch.peek().SerializeToString())
            blocks = native_span_metrics(raw, agg.scale / 1e9, agg.bounds, [name for name, _ in agg.dims])
        n, overflow = self._add_blocks(blocks) if blocks is not None else self._add_spans(batch.peek())
        self._spans.inc(n)
        if overflow:
            agg.overflow_spans += overflow
            self._overflow.inc(overflow)

    def _add_blocks(self, blocks: list[Block]) -> tuple[int, int]:
        """Add the compiled walker's per-batch aggregate: (spans, spans counted in the overflow series)."""
        agg = self.agg
        series, limit, dims = agg.series, agg.limit, agg.dims
        want_service, want_name, want_kind, want_status = (n in agg.base for n in _BASE)
        nb = len(agg.bounds) + 1
        n = overflow = 0
        for service, res_vals, groups in blocks:
            svc = service if want_service else ""
            for name, kind, code, span_vals, calls, total, buckets in groups:
                n += calls
                parts: list[str] = []
                if want_name:
                    parts.append(name)
                if want_kind:
                    parts.append(_KINDS[kind] if 0 <= kind < len(_KINDS) else str(kind))
                if want_status:
                    parts.append(_CODES[code] if 0 <= code < 3 else str(code))
                for (_, default), sv, rv in zip(dims, span_vals, res_vals, strict=True):
                    v = sv if sv is not None else rv
                    val = str(v) if v is not None else default
                    parts.append("\x00" if val is None else val)
                key = (svc, tuple(parts))
                s = series.get(key)
                if s is None:
                    if limit and len(series) >= limit:
                        key = (svc, _OVERFLOW)
                        overflow += calls
                        s = series.get(key)
                    if s is None:
                        s = series[key] = _Series(nb)
                s.calls += calls
                s.sum += total
                sb = s.buckets
                for i, c in enumerate(buckets):
                    if c:
                        sb[i] += c
        return n, overflow

    def _add_spans(self, req: Any) -> tuple[int, int]:
        """Add every span of a parsed request (the reference for the compiled walker, and its fallback)."""
        agg = self.agg
        series, bounds, scale, limit = agg.series, agg.bounds, agg.scale / 1e9, agg.limit
        base, dims = agg.base, agg.dims
        want_service = "service.name" in base
        want_name, want_kind, want_status = "span.name" in base, "span.kind" in base, "status.code" in base
        nb = len(bounds) + 1
        wanted = {name for name, _ in dims}
        n = 0
        overflow = 0
        for rs in req.resource_spans:
            service = ""
            res_attrs = rs.resource.attributes
            res_dims: dict[str, str] = {}
            for kv in res_attrs:
                k = kv.key
                if k == "service.name":
                    service = kv.value.string_value
                if k in wanted:
                    res_dims.setdefault(k, _text(kv.value))
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    n += 1
                    parts: list[str] = []
                    if want_name:
                        parts.append(sp.name)
                    if want_kind:
                        parts.append(_KINDS[sp.kind] if 0 <= sp.kind < len(_KINDS) else str(sp.kind))
                    if want_status:
                        code = sp.status.code
                        parts.append(_CODES[code] if 0 <= code < 3 else str(code))
                    if dims:
                        parts.extend(_dimension_values(sp.attributes, res_dims, dims, wanted))
                    key = (service if want_service else "", tuple(parts))
                    s = series.get(key)
                    if s is None:
                        if limit and len(series) >= limit:
                            key = (service if want_service else "", _OVERFLOW)
                            overflow += 1
                            s = series.get(key)
                        if s is None:
                            s = series[key] = _Series(nb)
                    d = (sp.end_time_unix_nano - sp.start_time_unix_nano) * scale
                    if d < 0:
                        d = 0.0
                    s.calls += 1
                    s.sum += d
                    s.buckets[bisect_left(bounds, d)] += 1
        return n, overflow

    def build(self, now_ns: int | None = None) -> Metrics:
        """The current series as one OTLP metrics request."""
        now_ns = now_ns or time.time_ns()
        agg = self.agg
        temporality = (
            metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
            if self._cumulative
            else metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
        )
        start = agg.start_ns if self._cumulative else self._last_flush_ns
        by_service: dict[str, list[tuple[SeriesKey, _Series]]] = {}
        for (service, key), s in agg.series.items():
            if s.calls or self._cumulative:
                by_service.setdefault(service, []).append((key, s))
        req = ExportMetricsServiceRequest()
        names = [n for n in agg.base if n != "service.name"]
        unit = "s" if agg.scale == 1.0 else "ms"
        for service, items in by_service.items():
            rm = req.resource_metrics.add()
            if "service.name" in agg.base:
                kv = rm.resource.attributes.add(key="service.name")
                kv.value.string_value = service
            sm = rm.scope_metrics.add()
            sm.scope.name = "edgetel/spanmetrics"
            calls = sm.metrics.add(name=self._calls_name, description="spans seen, per series")
            calls.sum.aggregation_temporality = temporality
            calls.sum.is_monotonic = True
            hist = None
            if not self._cfg.histogram.disable:
                hist = sm.metrics.add(name=self._duration_name, unit=unit, description="span duration")
                hist.histogram.aggregation_temporality = temporality
            for key, s in items:
                attrs = _attributes(service, key, names, agg)
                dp = calls.sum.data_points.add(start_time_unix_nano=start, time_unix_nano=now_ns, as_int=s.calls)
                dp.attributes.extend(attrs)
                if hist is not None:
                    hp = hist.histogram.data_points.add(
                        start_time_unix_nano=start, time_unix_nano=now_ns, count=s.calls, sum=s.sum
                    )
                    hp.explicit_bounds.extend(agg.bounds)
                    hp.bucket_counts.extend(s.buckets)
                    hp.attributes.extend(attrs)
        return Metrics(req)

    async def flush(self) -> None:
        if self._next is None or not self.agg.series:
            return
        now_ns = time.time_ns()
        batch = self.build(now_ns)
        if batch.item_count() == 0:
            return
        try:
            await self._next.consume(batch)
        except ConsumeError as e:
            self._flush_failed.inc()
            self._ctx.logger.warning("metrics pipeline refused span metrics; sending again next flush",
                                     extra={"connector": self._name, "error": str(e)})  # fmt: skip
            return
        if not self._cumulative:
            self.agg.reset()
            self._last_flush_ns = now_ns


def _text(v: Any) -> str:
    kind = v.WhichOneof("value")
    return "" if kind is None else str(getattr(v, kind))


def _dimension_values(
    span_attrs: Any, res_dims: dict[str, str], dims: list[tuple[str, str | None]], wanted: set[str]
) -> list[str]:
    """Each dimension's value: the span's attribute, else the resource's, else the default; "\x00": left out."""
    found: dict[str, str] = {}
    for kv in span_attrs:
        k = kv.key
        if k in wanted and k not in found:
            found[k] = _text(kv.value)
            if len(found) == len(wanted):
                break
    out = []
    for name, default in dims:
        val = found.get(name)
        if val is None:
            val = res_dims.get(name, default)
        out.append("\x00" if val is None else val)
    return out


def _attributes(service: str, key: SeriesKey, names: list[str], agg: Aggregator) -> list[KeyValue]:
    out: list[KeyValue] = []
    if "service.name" in agg.base:
        out.append(KeyValue(key="service.name"))
        out[-1].value.string_value = service
    if key == _OVERFLOW:
        kv = KeyValue(key="otel.metric.overflow")
        kv.value.bool_value = True
        out.append(kv)
        return out
    all_names = names + [d for d, _ in agg.dims]
    for name, val in zip(all_names, key, strict=True):
        if val == "\x00":
            continue
        kv = KeyValue(key=name)
        kv.value.string_value = val
        out.append(kv)
    return out
