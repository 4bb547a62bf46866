"""End to end: the OpenTelemetry SDK sends real traces over OTLP/gRPC through `edgetel run` (tail sampling and the
spanmetrics connector) to a test OTLP server; SIGTERM decides and delivers every pending trace."""

from __future__ import annotations

import signal
from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags, set_span_in_context

from edgetel.processors.tailsampling.tracestate import threshold_for
from support.otlp_server import OTLPServer  # type: ignore[import-not-found]
from tests.agentproc import AgentProcess, free_port, wait_for

CONFIG = """
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{port}"}}
processors:
  tail_sampling:
    decision_wait: 30s
    root_grace: 300ms
    policies:
      - {{name: errors, type: status_code, status_code: {{status_codes: [ERROR]}}}}
      - {{name: slow, type: latency_percentile, latency_percentile: {{percentile: 99}}}}
      - {{name: random, type: probabilistic, probabilistic: {{sampling_percentage: 1}}}}
      - {{name: batch-jobs, type: string_attribute, string_attribute: {{key: job.kind, values: [batch]}}}}
connectors:
  spanmetrics:
    metrics_flush_interval: 200ms
exporters:
  otlp:
    endpoint: "{backend}"
    tls: {{insecure: true}}
    compression: none
service:
  pipelines:
    traces/all: {{receivers: [otlp], exporters: [spanmetrics]}}
    traces: {{receivers: [otlp], processors: [tail_sampling], exporters: [otlp]}}
    metrics: {{receivers: [spanmetrics], exporters: [otlp]}}
  admin: {{endpoint: "{{admin}}"}}
"""


def test_sdk_traces_through_the_agent(tmp_path: Path) -> None:
    port = free_port()
    with OTLPServer(http_enabled=False) as backend:
        # one receiver feeds two pipelines: spanmetrics sees every span, tail_sampling decides what is kept
        config = CONFIG.format(port=port, backend=backend.endpoint)
        with AgentProcess(config, workdir=tmp_path) as agent:
            provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"127.0.0.1:{port}",
                                                                            insecure=True)))  # fmt: skip
            tracer = provider.get_tracer("e2e")
            ids: dict[str, int] = {}
            for i in range(40):
                kind = "error" if i == 3 else "batch" if i == 7 else "plain"
                with tracer.start_as_current_span("GET /cart") as root:
                    if kind == "batch":
                        root.set_attribute("job.kind", "batch")
                    with tracer.start_as_current_span("SELECT cart") as child:
                        if kind == "error":
                            child.set_status(Status(StatusCode.ERROR, "boom"))
                    with tracer.start_as_current_span("GET /price"):
                        pass
                ids[f"{kind}{i}"] = root.get_span_context().trace_id
            # a trace whose root is in another process (never arrives): only SIGTERM decides it before 30 s
            remote = SpanContext(trace_id=0x5B8EFFF798038103D269B633813FC60C, span_id=0xEEE19B7EC3C1B174,
                                 is_remote=True, trace_flags=TraceFlags(1))  # fmt: skip
            with tracer.start_as_current_span(
                "orphan-child", context=set_span_in_context(NonRecordingSpan(remote))
            ) as o:
                o.set_status(Status(StatusCode.ERROR))
            orphan_id = remote.trace_id
            provider.shutdown()  # flushes everything

            def kept() -> dict[int, list[object]]:
                out: dict[int, list[object]] = {}
                for r in backend.received:
                    if r.signal == "traces":
                        for rs in r.message.resource_spans:
                            for ss in rs.scope_spans:
                                for sp in ss.spans:
                                    out.setdefault(int.from_bytes(sp.trace_id, "big"), []).append(sp)
                return out

            wait_for(lambda: ids["error3"] in kept() and ids["batch7"] in kept(), timeout=20)
            got = kept()
            t1 = threshold_for(1)
            for name, tid in ids.items():
                random_keep = (tid & ((1 << 56) - 1)) >= t1
                if name in ("error3", "batch7") or random_keep:
                    assert len(got[tid]) == 3, name  # complete
            for sp in got[ids["error3"]] + got[ids["batch7"]]:
                assert sp.trace_state == "ot=th:0"  # type: ignore[attr-defined]
            plain_kept = [n for n, t in ids.items() if n.startswith("plain") and t in got]
            assert len(plain_kept) <= 4  # 1% random plus the slowest few while the percentile is learned

            def calls() -> float:
                total = 0.0
                for r in backend.received:
                    if r.signal != "metrics":
                        continue
                    last = 0.0
                    for rm in r.message.resource_metrics:
                        for sm in rm.scope_metrics:
                            for m in sm.metrics:
                                if m.name == "traces.span.metrics.calls":
                                    last += sum(dp.as_int for dp in m.sum.data_points)
                    total = max(total, last)
                return total

            wait_for(lambda: calls() >= 121, timeout=15)
            assert calls() == 121  # 40 traces x 3 spans + the orphan child: exact, before sampling
            assert orphan_id not in kept()
            assert agent.stop(signal.SIGTERM) == 0
            assert len(kept()[orphan_id]) == 1  # decided at shutdown and delivered
            assert "Traceback" not in agent.logs()
