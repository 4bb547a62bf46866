"""`Traces` and `Metrics`: one OTLP Export*ServiceRequest each, plus item counting, copy, merge and split."""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Any, ClassVar, Self

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edgetel.component.ids import Signal


def metric_point_count(metric: Any) -> int:
    kind = metric.WhichOneof("data")
    return len(getattr(metric, kind).data_points) if kind else 0


class _Batch:
    """Shared behaviour of `Traces` and `Metrics`.

    A batch parsed from bytes keeps those bytes while nothing may have changed it: `serialize()` returns them,
    `merge` concatenates them (serialized OTLP requests concatenate on the wire), and `copy()` shares them. So
    a pass-through pipeline forwards what it received byte for byte, without encoding it again. Reading
    `.request` hands out the mutable message and drops the bytes (the caller may change it); read-only code
    uses `.peek()`, which keeps them.
    """

    __slots__ = ("_count", "_raw", "_req")
    _message_type: ClassVar[Any]

    def __init__(self, request: Any = None, *, raw: bytes | None = None) -> None:
        self._req = request if request is not None or raw is not None else self._message_type()
        self._raw = raw
        self._count = -1

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """A batch over `data`, decoded at once (raises `DecodeError` for invalid bytes), keeping `data`."""
        raw = bytes(data)
        req = cls._message_type()
        req.ParseFromString(raw)
        out = cls(req)
        out._raw = raw
        return out

    def peek(self) -> Any:
        """The message, for reading only: the batch keeps its received bytes."""
        if self._req is None:
            req = self._message_type()
            req.ParseFromString(self._raw)
            self._req = req
        return self._req

    @property
    def request(self) -> Any:
        """The message, for reading or changing: the received bytes are dropped."""
        req = self.peek()
        self._raw = None
        return req

    @request.setter
    def request(self, value: Any) -> None:
        self._req, self._raw, self._count = value, None, -1

    def received_bytes(self) -> bytes | None:
        """The bytes this batch was parsed from, while it is unchanged (None otherwise)."""
        return self._raw

    def serialize(self) -> bytes:
        if self._raw is not None:
            return self._raw
        return bytes(self.peek().SerializeToString())

    def replace_bytes(self, data: bytes) -> None:
        """Hold `data`, a serialized request with the same items (a byte-level rewrite such as redaction's): it is
        decoded only when someone reads the message."""
        self._raw, self._req = data, None

    def invalidate(self) -> None:
        """Call after changing the message in place (counts are recomputed)."""
        self._count = -1
        self._raw = None

    def copy(self) -> Self:
        if self._raw is not None:
            out = type(self)(raw=self._raw)
        else:
            req = self._message_type()
            req.CopyFrom(self.peek())
            out = type(self)(req)
        out._count = self._count
        return out


class Traces(_Batch):
    """An `ExportTraceServiceRequest`; items are spans."""

    __slots__ = ()
    signal: ClassVar[Signal] = Signal.TRACES
    unit: ClassVar[str] = "spans"
    _message_type = ExportTraceServiceRequest

    def item_count(self) -> int:
        if self._count < 0:
            self._count = sum(len(ss.spans) for rs in self.peek().resource_spans for ss in rs.scope_spans)
        return self._count

    def resource_count(self) -> int:
        return len(self.peek().resource_spans)


class Metrics(_Batch):
    """An `ExportMetricsServiceRequest`; items are data points."""

    __slots__ = ()
    signal: ClassVar[Signal] = Signal.METRICS
    unit: ClassVar[str] = "metric_points"
    _message_type = ExportMetricsServiceRequest

    def item_count(self) -> int:
        if self._count < 0:
            self._count = sum(
                metric_point_count(m)
                for rm in self.peek().resource_metrics
                for sm in rm.scope_metrics
                for m in sm.metrics
            )
        return self._count

    def resource_count(self) -> int:
        return len(self.peek().resource_metrics)


Batch = Traces | Metrics


def merge(batches: Sequence[Batch]) -> Batch:
    """One batch holding every resource of `batches` (all of one signal), without decoding items."""
    first = batches[0]
    if len(batches) == 1:
        return first
    count = sum(b.item_count() for b in batches)
    raws = [b._raw for b in batches]
    out: Batch
    if all(r is not None for r in raws):
        out = type(first)(raw=b"".join(typing.cast(list[bytes], raws)))
    elif isinstance(first, Traces):
        treq = ExportTraceServiceRequest()
        for b in batches:
            treq.resource_spans.extend(b.peek().resource_spans)
        out = Traces(treq)
    else:
        mreq = ExportMetricsServiceRequest()
        for b in batches:
            mreq.resource_metrics.extend(b.peek().resource_metrics)
        out = Metrics(mreq)
    out._count = count
    return out


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
    for rs in batch.peek().resource_spans:
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
    for rm in batch.peek().resource_metrics:
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
