"""Hand-built OTLP metrics for the remote-write tests (timestamps chosen by the test)."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from edgetel.pdata import Metrics

CUMULATIVE, DELTA = 2, 1


def _attrs(target: Any, attrs: dict[str, Any]) -> None:
    for k, v in attrs.items():
        kv = target.add(key=k)
        if isinstance(v, bool):
            kv.value.bool_value = v
        elif isinstance(v, int):
            kv.value.int_value = v
        elif isinstance(v, float):
            kv.value.double_value = v
        else:
            kv.value.string_value = str(v)


class Builder:
    """`Builder(resource={...}).gauge("name", ...)`: one resource, one scope, metrics added in order."""

    def __init__(self, resource: dict[str, Any] | None = None, scope: str = "test", version: str = "") -> None:
        self.req = ExportMetricsServiceRequest()
        rm = self.req.resource_metrics.add()
        _attrs(rm.resource.attributes, {"service.name": "svc", **(resource or {})} if resource is not False else {})
        self.sm = rm.scope_metrics.add()
        self.sm.scope.name = scope
        self.sm.scope.version = version

    def metric(self, name: str, unit: str = "", description: str = "") -> Any:
        return self.sm.metrics.add(name=name, unit=unit, description=description)

    def gauge(
        self,
        name: str,
        points: list[tuple[int, float]],
        unit: str = "",
        attrs: dict[str, Any] | None = None,
        description: str = "",
    ) -> Builder:
        m = self.metric(name, unit, description)
        for t_ms, v in points:
            dp = m.gauge.data_points.add(time_unix_nano=t_ms * 1_000_000, as_double=v)
            _attrs(dp.attributes, attrs or {})
        return self

    def sum(
        self,
        name: str,
        points: list[tuple[int, float]],
        unit: str = "",
        attrs: dict[str, Any] | None = None,
        monotonic: bool = True,
        temporality: int = CUMULATIVE,
        as_int: bool = False,
    ) -> Builder:
        m = self.metric(name, unit)
        m.sum.is_monotonic = monotonic
        m.sum.aggregation_temporality = temporality
        for t_ms, v in points:
            dp = m.sum.data_points.add(time_unix_nano=t_ms * 1_000_000)
            if as_int:
                dp.as_int = int(v)
            else:
                dp.as_double = v
            _attrs(dp.attributes, attrs or {})
        return self

    def histogram(
        self,
        name: str,
        points: list[tuple[int, list[int], float]],
        bounds: list[float],
        unit: str = "",
        attrs: dict[str, Any] | None = None,
        temporality: int = CUMULATIVE,
    ) -> Builder:
        m = self.metric(name, unit)
        m.histogram.aggregation_temporality = temporality
        for t_ms, counts, total in points:
            dp = m.histogram.data_points.add(time_unix_nano=t_ms * 1_000_000, count=sum(counts), sum=total)
            dp.explicit_bounds.extend(bounds)
            dp.bucket_counts.extend(counts)
            _attrs(dp.attributes, attrs or {})
        return self

    def done(self) -> Metrics:
        return Metrics(self.req)
