"""OTLP requests that use every field: attributes of every type, events, links, status, trace state,
several resources and scopes; metrics of every kind (sum, gauge, histogram, exponential histogram, summary)."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

T0 = 1_700_000_000_123_456_789


def any_value(v: Any) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, str):
        return AnyValue(string_value=v)
    if isinstance(v, bytes):
        return AnyValue(bytes_value=v)
    if isinstance(v, list):
        out = AnyValue()
        out.array_value.values.extend(any_value(x) for x in v)
        return out
    if isinstance(v, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(KeyValue(key=k, value=any_value(x)) for k, x in v.items())
        return out
    if v is None:
        return AnyValue()
    raise TypeError(v)


def attrs(d: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in d.items()]


ALL_TYPES = {
    "str": 'hello <wörld> & "q"',
    "int": -42,
    "big": 2**63 - 1,
    "double": 3.25,
    "bool": True,
    "bytes": b"\x00\x01\xfe",
    "array": ["a", 1, 2.5, False],
    "map": {"z": 1, "a": "x", "nested": {"k": [1, 2]}},
    "empty": None,
}


def trace_id(i: int) -> bytes:
    return (0x0102030405060708 << 64 | i).to_bytes(16, "big")


def span_id(i: int) -> bytes:
    return (0xA0B0C0D0E0F00000 | i).to_bytes(8, "big")


def sample_traces(spans_per_scope: int = 2) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    n = 0
    for r in range(2):
        rs = req.resource_spans.add(schema_url="https://opentelemetry.io/schemas/1.21.0")
        rs.resource.attributes.extend(attrs({"service.name": f"svc-{r}", "host.name": "edge-1", "pid": 1234 + r}))
        rs.resource.dropped_attributes_count = r
        for s in range(2):
            ss = rs.scope_spans.add(schema_url="scope-schema")
            ss.scope.name = f"lib.{s}"
            ss.scope.version = "1.2.3" if s == 0 else ""
            ss.scope.attributes.extend(attrs({"scope.attr": s}))
            for _ in range(spans_per_scope):
                n += 1
                sp = ss.spans.add()
                sp.trace_id = trace_id(n)
                sp.span_id = span_id(n)
                sp.trace_state = "vendor=value,other=1" if n % 2 else ""
                sp.parent_span_id = span_id(n - 1) if n % 3 else b""
                sp.name = f"op-{n}"
                sp.kind = n % 6  # every kind incl. UNSPECIFIED
                sp.start_time_unix_nano = T0 + n
                sp.end_time_unix_nano = T0 + n + 1_500_000_123
                sp.attributes.extend(attrs(ALL_TYPES))
                sp.dropped_attributes_count = 1
                ev = sp.events.add(time_unix_nano=T0 + 10, name="exception")
                ev.attributes.extend(attrs({"exception.message": "boom", "n": n}))
                ev2 = sp.events.add(time_unix_nano=T0 + 20, name="")
                ev2.attributes.extend(attrs({"k": "v"}))
                sp.dropped_events_count = 2
                link = sp.links.add(trace_id=trace_id(99), span_id=span_id(99), trace_state="l=1")
                link.attributes.extend(attrs({"link.attr": 1.5}))
                link2 = sp.links.add(trace_id=trace_id(98), span_id=span_id(98))
                link2.attributes.extend(attrs({"opentracing.ref_type": "child_of"}))
                sp.dropped_links_count = 3
                sp.status.code = n % 3  # UNSET, OK, ERROR
                sp.status.message = "bad thing" if n % 3 == 2 else ""
                sp.flags = 0x301 if n % 2 else 0x300
    return req


def sample_metrics() -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add(schema_url="rs")
    rm.resource.attributes.extend(attrs({"service.name": "metrics-svc"}))
    sm = rm.scope_metrics.add()
    sm.scope.name = "meter"
    m = sm.metrics.add(name="requests", description="count", unit="1")
    m.sum.aggregation_temporality = 2
    m.sum.is_monotonic = True
    for i in range(3):
        dp = m.sum.data_points.add(start_time_unix_nano=T0, time_unix_nano=T0 + i, as_int=i)
        dp.attributes.extend(attrs({"route": f"/r{i}"}))
    g = sm.metrics.add(name="temp", unit="Cel")
    g.gauge.data_points.add(time_unix_nano=T0, as_double=21.5, flags=0)
    h = sm.metrics.add(name="latency", unit="ms")
    h.histogram.aggregation_temporality = 1
    hp = h.histogram.data_points.add(start_time_unix_nano=T0, time_unix_nano=T0 + 5, count=6, sum=12.5, min=0.5, max=9)
    hp.bucket_counts.extend([1, 2, 3])
    hp.explicit_bounds.extend([1.0, 5.0])
    ex = hp.exemplars.add(time_unix_nano=T0 + 1, as_double=0.7, trace_id=trace_id(1), span_id=span_id(1))
    ex.filtered_attributes.extend(attrs({"user": "u"}))
    e = sm.metrics.add(name="exp", unit="s")
    e.exponential_histogram.aggregation_temporality = 2
    ep = e.exponential_histogram.data_points.add(time_unix_nano=T0, count=5, sum=3.0, scale=2, zero_count=1)
    ep.positive.offset = -1
    ep.positive.bucket_counts.extend([1, 2])
    ep.negative.bucket_counts.extend([1])
    s = sm.metrics.add(name="summary")
    sp = s.summary.data_points.add(time_unix_nano=T0, count=4, sum=10.0)
    sp.quantile_values.add(quantile=0.5, value=2.0)
    sp.quantile_values.add(quantile=0.99, value=4.0)
    return req
