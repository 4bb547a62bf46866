"""Shared test helpers: synthetic OTLP batches, CI detection."""

from __future__ import annotations

import os

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edgetel.pdata import Metrics, Traces

IN_CI = os.environ.get("CI") == "true"


def make_traces(resources: int = 1, spans: int = 3, service: str = "svc") -> Traces:
    req = ExportTraceServiceRequest()
    for r in range(resources):
        rs = req.resource_spans.add()
        kv = rs.resource.attributes.add(key="service.name")
        kv.value.string_value = f"{service}{r}"
        ss = rs.scope_spans.add()
        ss.scope.name = "test"
        for i in range(spans):
            sp = ss.spans.add(name=f"op{i}", kind=2)
            sp.trace_id = bytes([r + 1]) * 16
            sp.span_id = (i + 1).to_bytes(8, "big") if i else bytes([1]) * 8
            sp.start_time_unix_nano = 1_700_000_000_000_000_000 + i
            sp.end_time_unix_nano = 1_700_000_000_000_000_000 + i + 1000
    return Traces(req)


def make_metrics(resources: int = 1, points: int = 3, name: str = "m") -> Metrics:
    req = ExportMetricsServiceRequest()
    for r in range(resources):
        rm = req.resource_metrics.add()
        kv = rm.resource.attributes.add(key="service.name")
        kv.value.string_value = f"svc{r}"
        sm = rm.scope_metrics.add()
        m = sm.metrics.add(name=name, unit="1")
        for i in range(points):
            dp = m.gauge.data_points.add(as_double=float(i), time_unix_nano=1_700_000_000_000_000_000)
            a = dp.attributes.add(key="i")
            a.value.int_value = i
    return Metrics(req)
