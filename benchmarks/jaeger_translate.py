"""CPU cost of the jaeger exporter's OTLP-to-Jaeger translation, per span.

Run: .venv/bin/python benchmarks/jaeger_translate.py
Spans like an HTTP server's: 10 attributes (strings and ints, 3 of them unique per span), 1 event with 2
attributes, a parent, status.
"""

from __future__ import annotations

import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edgetel.exporters.jaeger.translate import translate


def request(spans: int) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for k, v in (("service.name", "checkout"), ("host.name", "edge-1"), ("telemetry.sdk.language", "python")):
        rs.resource.attributes.add(key=k).value.string_value = v
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.flask"
    ss.scope.version = "0.48b0"
    for i in range(spans):
        sp = ss.spans.add(name="GET /api/cart/{id}", kind=2)
        sp.trace_id = i.to_bytes(16, "big")
        sp.span_id = (i + 1).to_bytes(8, "big")
        sp.parent_span_id = (i + 2).to_bytes(8, "big")
        sp.start_time_unix_nano = 1_700_000_000_000_000_000 + i
        sp.end_time_unix_nano = 1_700_000_000_001_000_000 + i
        sp.flags = 0x101
        for k in ("http.method", "http.route", "http.scheme", "net.host.name", "user_agent"):
            sp.attributes.add(key=k).value.string_value = f"value-of-{k}"
        sp.attributes.add(key="http.target").value.string_value = f"/api/cart/{i * 7919}"  # unique per span
        sp.attributes.add(key="http.status_code").value.int_value = 200 + i % 7
        sp.attributes.add(key="net.host.port").value.int_value = 8080
        sp.attributes.add(key="net.peer.port").value.int_value = 30_000 + i  # unique per span
        sp.attributes.add(key="http.response_content_length").value.int_value = 1000 + i * 13  # unique
        ev = sp.events.add(name="cache.miss", time_unix_nano=sp.start_time_unix_nano + 10)
        ev.attributes.add(key="key").value.string_value = "cart:42"
        ev.attributes.add(key="ttl").value.int_value = 30
        sp.status.code = 1
    return req


def main() -> None:
    print(f"{'batch spans':>12} {'rounds':>7} {'us/span (CPU)':>14} {'spans/CPU-s':>12}")
    for size in (1, 64, 512):
        req = request(size)
        rounds = max(20, 20_000 // size)
        translate(req)
        t0 = time.process_time()
        for _ in range(rounds):
            translate(req)
        cpu = time.process_time() - t0
        per_span = cpu / (rounds * size)
        print(f"{size:>12} {rounds:>7} {per_span * 1e6:>14.2f} {1 / per_span:>12,.0f}")


if __name__ == "__main__":
    main()
