"""Building the scrape's OTLP request directly: pre-built data point templates (attributes and start time),
copied and completed with the time and value, because that is the cheapest way to fill upb messages."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, NumberDataPoint, ScopeMetrics

import edgetel

CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
SCOPE_PREFIX = "edgetel/receiver/hostmetrics/"

Points = Any  # a RepeatedCompositeContainer of NumberDataPoint (upb has no public type for it)


def kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


class Templates:
    """Data point templates by attribute values, for one attribute key tuple. Bounded: a host whose devices
    churn (containers' veth interfaces) does not grow it without end."""

    __slots__ = ("_cache", "_keys", "_limit", "_start")

    def __init__(self, keys: tuple[str, ...], start_ns: int = 0, limit: int = 4096) -> None:
        self._keys = keys
        self._start = start_ns
        self._limit = limit
        self._cache: dict[tuple[str, ...], NumberDataPoint] = {}

    def get(self, *values: str) -> NumberDataPoint:
        tmpl = self._cache.get(values)
        if tmpl is None:
            if len(self._cache) >= self._limit:
                self._cache.clear()
            tmpl = NumberDataPoint(
                start_time_unix_nano=self._start,
                attributes=[kv(k, v) for k, v in zip(self._keys, values, strict=True)],
            )
            self._cache[values] = tmpl
        return tmpl


def add_int(points: Points, tmpl: NumberDataPoint, now: int, value: int) -> None:
    dp = points.add()
    dp.CopyFrom(tmpl)
    dp.time_unix_nano = now
    dp.as_int = value


def add_double(points: Points, tmpl: NumberDataPoint, now: int, value: float) -> None:
    dp = points.add()
    dp.CopyFrom(tmpl)
    dp.time_unix_nano = now
    dp.as_double = value


def new_sum(sm: ScopeMetrics, name: str, description: str, unit: str, monotonic: bool) -> Points:
    m = sm.metrics.add(name=name, description=description, unit=unit)
    s = m.sum
    s.aggregation_temporality = CUMULATIVE
    s.is_monotonic = monotonic
    return s.data_points


def new_gauge(sm: ScopeMetrics, name: str, description: str, unit: str) -> Points:
    m = sm.metrics.add(name=name, description=description, unit=unit)
    return m.gauge.data_points


def _has_points(metric: Any) -> bool:
    kind = metric.WhichOneof("data")
    return kind is not None and len(getattr(metric, kind).data_points) > 0


class RequestBuilder:
    """One scrape's request: the host resource with one scope per scraper, plus extra resources (processes)."""

    def __init__(self, host_attrs: list[KeyValue]) -> None:
        self.request = ExportMetricsServiceRequest()
        self._host_attrs = host_attrs
        self._host: Any = None

    def scope(self, scraper: str) -> ScopeMetrics:
        if self._host is None:
            self._host = self.request.resource_metrics.add()
            self._host.resource.attributes.extend(self._host_attrs)
        sm: ScopeMetrics = self._host.scope_metrics.add()
        sm.scope.name = SCOPE_PREFIX + scraper
        sm.scope.version = edgetel.__version__
        return sm

    def resource(self, scraper: str, attrs: list[KeyValue]) -> ScopeMetrics:
        rm = self.request.resource_metrics.add()
        rm.resource.attributes.extend(self._host_attrs)
        rm.resource.attributes.extend(attrs)
        sm: ScopeMetrics = rm.scope_metrics.add()
        sm.scope.name = SCOPE_PREFIX + scraper
        sm.scope.version = edgetel.__version__
        return sm

    def drop_empty(self) -> None:
        """Remove metrics without points (no swap device) and scopes a failed scraper left empty."""
        for rm in self.request.resource_metrics:
            for sm in rm.scope_metrics:
                no_points = [i for i, m in enumerate(sm.metrics) if not _has_points(m)]
                for i in reversed(no_points):
                    del sm.metrics[i]
            empty = [i for i, sm in enumerate(rm.scope_metrics) if not len(sm.metrics)]
            for i in reversed(empty):
                del rm.scope_metrics[i]
        gone = [i for i, rm in enumerate(self.request.resource_metrics) if not len(rm.scope_metrics)]
        for i in reversed(gone):
            del self.request.resource_metrics[i]
