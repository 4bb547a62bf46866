"""`Traces` and `Metrics`: one OTLP Export*ServiceRequest each, plus item counting, copy, merge and split."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edgetel.component.ids import Signal

_POINT_FIELDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def metric_point_count(metric: Any) -> int:
    kind = metric.WhichOneof("data")
    return len(getattr(metric, kind).data_points) if kind else 0


class Traces:
    """An `ExportTraceServiceRequest`; items are spans."""

    __slots__ = ("_count", "request")
    signal: ClassVar[Signal] = Signal.TRACES
    unit: ClassVar[str] = "spans"

    def __init__(self, request: ExportTraceServiceRequest | None = None) -> None:
        self.request = request if request is not None else ExportTraceServiceRequest()
        self._count = -1

    @classmethod
    def parse(cls, data: bytes) -> Traces:
        req = ExportTraceServiceRequest()
        req.ParseFromString(data)
        return cls(req)

    def serialize(self) -> bytes:
        return bytes(self.request.SerializeToString())

    def item_count(self) -> int:
        if self._count < 0:
            self._count = sum(len(ss.spans) for rs in self.request.resource_spans for ss in rs.scope_spans)
        return self._count

    def invalidate(self) -> None:
        """Call after mutating the request in place."""
        self._count = -1

    def copy(self) -> Traces:
        req = ExportTraceServiceRequest()
        req.CopyFrom(self.request)
        return Traces(req)

    def resource_count(self) -> int:
        return len(self.request.resource_spans)


class Metrics:
    """An `ExportMetricsServiceRequest`; items are data points."""

    __slots__ = ("_count", "request")
    signal: ClassVar[Signal] = Signal.METRICS
    unit: ClassVar[str] = "metric_points"

    def __init__(self, request: ExportMetricsServiceRequest | None = None) -> None:
        self.request = request if request is not None else ExportMetricsServiceRequest()
        self._count = -1

    @classmethod
    def parse(cls, data: bytes) -> Metrics:
        req = ExportMetricsServiceRequest()
        req.ParseFromString(data)
        return cls(req)

    def serialize(self) -> bytes:
        return bytes(self.request.SerializeToString())

    def item_count(self) -> int:
        if self._count < 0:
            self._count = sum(
                metric_point_count(m)
                for rm in self.request.resource_metrics
                for sm in rm.scope_metrics
                for m in sm.metrics
            )
        return self._count

    def invalidate(self) -> None:
        self._count = -1

    def copy(self) -> Metrics:
        req = ExportMetricsServiceRequest()
        req.CopyFrom(self.request)
        return Metrics(req)

    def resource_count(self) -> int:
        return len(self.request.resource_metrics)


Batch = Traces | Metrics


def merge(batches: Sequence[Batch]) -> Batch:
    """One batch holding every resource of `batches` (all of one signal), without decoding items."""
    first = batches[0]
    if len(batches) == 1:
        return first
    if isinstance(first, Traces):
        treq = ExportTraceServiceRequest()
        for b in batches:
            assert isinstance(b, Traces)
            treq.resource_spans.extend(b.request.resource_spans)
        out_t = Traces(treq)
        out_t._count = sum(b.item_count() for b in batches)
        return out_t
    mreq = ExportMetricsServiceRequest()
    for b in batches:
        assert isinstance(b, Metrics)
        mreq.resource_metrics.extend(b.request.resource_metrics)
    out_m = Metrics(mreq)
    out_m._count = sum(b.item_count() for b in batches)
    return out_m


def split(batch: Batch, max_items: int) -> list[Batch]:
    """Split `batch` into batches of at most `max_items` items (a point or span is never split)."""
    if max_items <= 0 or batch.item_count() <= max_items:
        return [batch]
    if isinstance(batch, Traces):
        return list(_split_traces(batch, max_items))
    return list(_split_metrics(batch, max_items))


def _split_traces(batch: Traces, max_items: int) -> list[Batch]:
    out: list[Batch] = []
    cur = ExportTraceServiceRequest()
    room = max_items
    for rs in batch.request.resource_spans:
        new_rs = None
        for ss in rs.scope_spans:
            spans = ss.spans
            i = 0
            while i < len(spans):
                if room == 0:
                    out.append(Traces(cur))
                    cur, room, new_rs = ExportTraceServiceRequest(), max_items, None
                if new_rs is None:
                    new_rs = cur.resource_spans.add(resource=rs.resource, schema_url=rs.schema_url)
                take = min(room, len(spans) - i)
                new_ss = new_rs.scope_spans.add(scope=ss.scope, schema_url=ss.schema_url)
                new_ss.spans.extend(spans[i : i + take])
                i += take
                room -= take
    if room < max_items:
        out.append(Traces(cur))
    return out


def _split_metrics(batch: Metrics, max_items: int) -> list[Batch]:
    out: list[Batch] = []
    cur = ExportMetricsServiceRequest()
    room = max_items
    for rm in batch.request.resource_metrics:
        new_rm = None
        for sm in rm.scope_metrics:
            new_sm = None
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                if kind is None:
                    continue
                points = getattr(m, kind).data_points
                i = 0
                while i < len(points):
                    if room == 0:
                        out.append(Metrics(cur))
                        cur, room, new_rm, new_sm = ExportMetricsServiceRequest(), max_items, None, None
                    if new_rm is None:
                        new_rm = cur.resource_metrics.add(resource=rm.resource, schema_url=rm.schema_url)
                        new_sm = None
                    if new_sm is None:
                        new_sm = new_rm.scope_metrics.add(scope=sm.scope, schema_url=sm.schema_url)
                    take = min(room, len(points) - i)
                    new_m = new_sm.metrics.add()
                    new_m.CopyFrom(m)
                    new_points = getattr(new_m, kind).data_points
                    del new_points[:]
                    new_points.extend(points[i : i + take])
                    i += take
                    room -= take
    if room < max_items:
        out.append(Metrics(cur))
    return out
