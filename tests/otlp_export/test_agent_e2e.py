"""End to end: the OpenTelemetry SDK sends to `edgetel run` (OTLP receiver, batch), which forwards with the
`otlp`, `otlphttp` and `jaeger` exporters to the test backends; every span and point arrives intact."""

from __future__ import annotations

from collections import Counter
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics.export import MetricExportResult
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.agentproc import AgentProcess, free_port
from tests.otlp_receiver import sdkdata
from tests.support.jaeger_server import JaegerServer
from tests.support.otlp_server import OTLPServer

CONFIG = """
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
processors:
  batch: {{timeout: 100ms}}
exporters:
  otlp: {{endpoint: "{otlp}", tls: {{insecure: true}}, headers: {{x-tenant: edge}}}}
  otlphttp: {{endpoint: "{otlphttp}", compression: none}}
  jaeger: {{endpoint: "{jaeger}", tls: {{insecure: true}}}}
service:
  admin: {{endpoint: "{{admin}}"}}
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [otlp, otlphttp, jaeger]}}
    metrics: {{receivers: [otlp], processors: [batch], exporters: [otlp, otlphttp]}}
"""


def span_triplets(requests: list[Any]) -> Counter[tuple[bytes, bytes, bytes]]:
    """(resource, scope, span) serialized, for every span: equal multisets mean equal data modulo batching."""
    out: Counter[tuple[bytes, bytes, bytes]] = Counter()
    for req in requests:
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    out[(rs.resource.SerializeToString(), ss.scope.SerializeToString(), sp.SerializeToString())] += 1
    return out


def metric_triplets(requests: list[Any]) -> Counter[tuple[bytes, bytes, bytes]]:
    out: Counter[tuple[bytes, bytes, bytes]] = Counter()
    for req in requests:
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out[(rm.resource.SerializeToString(), sm.scope.SerializeToString(), m.SerializeToString())] += 1
    return out


def test_sdk_to_agent_to_otlp_otlphttp_and_jaeger(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spans = sdkdata.make_spans()
    metrics = sdkdata.make_metrics()
    want_traces = sdkdata.expected_traces(spans)
    want_metrics = sdkdata.expected_metrics(metrics)
    grpc_port = free_port()
    with OTLPServer(http_enabled=False) as grpc_backend, OTLPServer(grpc_enabled=False) as http_backend, \
            JaegerServer() as jaeger:  # fmt: skip
        config = CONFIG.format(
            grpc=grpc_port, otlp=grpc_backend.endpoint, otlphttp=http_backend.http_endpoint, jaeger=jaeger.endpoint
        )
        with AgentProcess(config, workdir=tmp_path) as agent:
            endpoint = f"127.0.0.1:{grpc_port}"
            assert OTLPSpanExporter(endpoint=endpoint, insecure=True).export(spans) == SpanExportResult.SUCCESS
            assert OTLPMetricExporter(endpoint=endpoint, insecure=True).export(metrics) == MetricExportResult.SUCCESS
            n_spans = len(spans)
            grpc_backend.wait_for_sync(spans=n_spans, metric_points=1, within=15)
            http_backend.wait_for_sync(spans=n_spans, metric_points=1, within=15)
            jaeger.wait_for_sync(spans=n_spans, within=15)
            for exporter in ("otlp", "otlphttp", "jaeger"):
                assert agent.metric("edgetel_exporter_sent_spans_total", exporter=exporter) == n_spans
                assert agent.metric("edgetel_exporter_send_failed_spans_total", exporter=exporter) == 0

    for backend in (grpc_backend, http_backend):
        traces = [r.message for r in backend.received if r.signal == "traces"]
        assert span_triplets(traces) == span_triplets([want_traces])
        got_metrics = [r.message for r in backend.received if r.signal == "metrics"]
        assert metric_triplets(got_metrics) == metric_triplets([want_metrics])
    assert all(r.headers.get("x-tenant") == "edge" for r in grpc_backend.received)
    services = Counter(b.message.batch.process.service_name for b in jaeger.received for _ in b.message.batch.spans)
    want_services = Counter(
        next(kv.value.string_value for kv in rs.resource.attributes if kv.key == "service.name")
        for rs in want_traces.resource_spans
        for ss in rs.scope_spans
        for _ in ss.spans
    )
    assert services == want_services
    assert {s.span_id for s in jaeger.spans()} == {
        sp.span_id for rs in want_traces.resource_spans for ss in rs.scope_spans for sp in ss.spans
    }
