"""The OpenTelemetry Python SDK's own OTLP exporters (gRPC and HTTP/protobuf) send to the receiver; every field
arrives intact (compared with the SDK's own encoding of the same data)."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.metrics.export import MetricExportResult
from opentelemetry.sdk.trace.export import SpanExportResult

from edgetel.pdata import Metrics, Traces
from tests.otlp_receiver import sdkdata
from tests.otlp_receiver.conftest import Harness


def check_rich_traces(req: object) -> None:
    """The SDK data really has what the comparison is meant to cover."""
    assert isinstance(req, type(sdkdata.expected_traces([])))
    assert len(req.resource_spans) == 2
    assert sum(len(rs.scope_spans) for rs in req.resource_spans) == 3
    spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert {s.kind for s in spans} == {1, 2, 3, 4, 5}
    root = next(s for s in spans if s.name == "root")
    kinds = {kv.value.WhichOneof("value") for kv in root.attributes}
    assert kinds == {"string_value", "bool_value", "int_value", "double_value", "array_value"}
    assert len(root.events) == 2 and root.events[0].time_unix_nano == 1_700_000_000_000_000_123
    child = next(s for s in spans if s.name == "child")
    assert child.status.code == 2 and child.status.message == "boom"
    assert child.links[0].span_id == root.span_id and child.parent_span_id == root.span_id
    assert len(child.trace_id) == 16 and len(child.span_id) == 8


def check_rich_metrics(req: object) -> None:
    kinds = {m.WhichOneof("data") for rm in req.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}  # type: ignore[attr-defined]
    assert kinds == {"sum", "gauge", "histogram", "exponential_histogram"}


@pytest.mark.parametrize("compression", ["none", "gzip"])
async def test_grpc_traces_and_metrics_arrive_intact(rx: Harness, compression: str) -> None:
    import grpc

    comp = grpc.Compression.Gzip if compression == "gzip" else grpc.Compression.NoCompression
    spans = sdkdata.make_spans()
    exporter = GrpcSpanExporter(endpoint=rx.grpc_target, insecure=True, compression=comp, timeout=5)
    try:
        assert await asyncio.to_thread(exporter.export, spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert len(rx.traces.batches) == 1
    got = rx.traces.batches[0]
    assert isinstance(got, Traces)
    expected = sdkdata.expected_traces(spans)
    check_rich_traces(expected)
    assert got.request == expected
    assert got.item_count() == len(spans)

    data = sdkdata.make_metrics()
    mexp = GrpcMetricExporter(endpoint=rx.grpc_target, insecure=True, compression=comp, timeout=5)
    try:
        assert await asyncio.to_thread(mexp.export, data) == MetricExportResult.SUCCESS
    finally:
        mexp.shutdown()
    assert len(rx.metrics.batches) == 1
    mgot = rx.metrics.batches[0]
    assert isinstance(mgot, Metrics)
    mexpected = sdkdata.expected_metrics(data)
    check_rich_metrics(mexpected)
    assert mgot.request == mexpected
    assert rx.metric("edgetel_receiver_accepted_spans_total", "otlp", "grpc") == len(spans)
    assert rx.metric("edgetel_receiver_accepted_metric_points_total", "otlp", "grpc") == mgot.item_count() > 0


@pytest.mark.parametrize("compression", ["none", "gzip", "deflate"])
async def test_http_protobuf_traces_and_metrics_arrive_intact(rx: Harness, compression: str) -> None:
    comp = {"none": HttpCompression.NoCompression, "gzip": HttpCompression.Gzip, "deflate": HttpCompression.Deflate}
    spans = sdkdata.make_spans()
    exporter = HttpSpanExporter(endpoint=f"{rx.http_url}/v1/traces", compression=comp[compression], timeout=5)
    try:
        assert await asyncio.to_thread(exporter.export, spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
    assert [b.request for b in rx.traces.batches] == [sdkdata.expected_traces(spans)]

    data = sdkdata.make_metrics()
    mexp = HttpMetricExporter(endpoint=f"{rx.http_url}/v1/metrics", compression=comp[compression], timeout=5)
    try:
        assert await asyncio.to_thread(mexp.export, data) == MetricExportResult.SUCCESS
    finally:
        mexp.shutdown()
    assert [b.request for b in rx.metrics.batches] == [sdkdata.expected_metrics(data)]
    assert rx.metric("edgetel_receiver_accepted_spans_total", "otlp", "http") == len(spans)
