"""Telemetry made by the real OpenTelemetry Python SDK: spans and metrics of every kind the issue names."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes

ATTRS: Attributes = {
    "str": "välue",
    "bool": True,
    "int": -(2**62),
    "float": 3.25,
    "strs": ["a", "b"],
    "bools": [True, False],
    "ints": [1, 2**40],
    "floats": [0.5, -1.5],
}


def make_spans() -> list[ReadableSpan]:
    """Spans from two resources and three scopes: attributes of every type, events, links, status, kinds."""
    out: list[ReadableSpan] = []
    for svc in ("checkout", "payments"):
        mem = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": svc, "host.id": 7, "ratio": 0.5}))
        provider.add_span_processor(SimpleSpanProcessor(mem))
        for scope in ("lib.a", "lib.b") if svc == "checkout" else ("lib.c",):
            tracer = provider.get_tracer(scope, "1.2.3", schema_url="https://opentelemetry.io/schemas/1.21.0")
            with tracer.start_as_current_span("root", kind=SpanKind.SERVER, attributes=ATTRS) as root:
                root.add_event("cache miss", {"key": "k1", "n": 3}, timestamp=1_700_000_000_000_000_123)
                root.add_event("plain")
                with tracer.start_as_current_span(
                    "child",
                    kind=SpanKind.CLIENT,
                    links=[Link(root.get_span_context(), {"link.attr": "x"})],
                ) as child:
                    child.set_status(Status(StatusCode.ERROR, "boom"))
                    child.set_attribute("http.status_code", 503)
                with tracer.start_as_current_span("producer", kind=SpanKind.PRODUCER) as p:
                    p.set_status(Status(StatusCode.OK))
                with tracer.start_as_current_span("consumer", kind=SpanKind.CONSUMER):
                    pass
                with tracer.start_as_current_span("internal", kind=SpanKind.INTERNAL):
                    pass
        provider.shutdown()
        out.extend(mem.get_finished_spans())
    return out


def make_metrics() -> MetricsData:
    """Sum (monotonic and not), gauge, explicit-bucket and exponential histograms, from one SDK reader."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        resource=Resource.create({"service.name": "metrics-svc"}),
        metric_readers=[reader],
        views=[View(instrument_name="latency.exp", aggregation=ExponentialBucketHistogramAggregation())],
    )
    meter = provider.get_meter("meter.scope", "0.1")
    counter = meter.create_counter("requests", unit="1", description="requests served")
    counter.add(5, {"route": "/a"})
    counter.add(2, {"route": "/b", "ok": True})
    updown = meter.create_up_down_counter("queue.depth")
    updown.add(-3, {"q": "x"})
    gauge = meter.create_gauge("temperature", unit="Cel")
    gauge.set(21.5, {"room": "lab"})
    hist = meter.create_histogram("latency", unit="ms")
    exp = meter.create_histogram("latency.exp", unit="ms")
    for v in (0.5, 3.0, 12.0, 250.0, 1e4):
        hist.record(v, {"route": "/a"})
        exp.record(v, {"route": "/a"})
    data = reader.get_metrics_data()
    assert data is not None
    provider.shutdown()
    return data


def expected_traces(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    return encode_spans(spans)


def expected_metrics(data: MetricsData) -> ExportMetricsServiceRequest:
    return encode_metrics(data)
