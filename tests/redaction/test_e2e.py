"""End to end: `edgetel run` with the default redaction rules between the OTLP and StatsD receivers and the file
exporter. Secrets go in through the OpenTelemetry SDK, raw OTLP/HTTP requests and a DogStatsD client; the raw
bytes of the exported file must not contain any of them."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

from datadog.dogstatsd.base import DogStatsd
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, Status, StatusCode

from tests.agentproc import AgentProcess, free_port, wait_for

from .helpers import load, metrics_with, traces_with

# The redaction processor of the default agent.yaml (docs/redaction.md).
REDACTION_YAML = """
  redaction:
    allow_all_keys: true
    redact_all_types: true
    url_sanitizer: {enabled: true}
    db_sanitizer:
      sql: {enabled: true}
      redis: {enabled: true}
      valkey: {enabled: true}
      memcached: {enabled: true}
      mongo: {enabled: true}
      opensearch: {enabled: true}
      es: {enabled: true}
"""

CONFIG = (
    """
receivers:
  otlp:
    protocols:
      http: {endpoint: "127.0.0.1:HTTP_PORT"}
  statsd:
    endpoint: 127.0.0.1:UDP_PORT
    aggregation_interval: 200ms
processors:
  batch: {timeout: 50ms}
"""
    + REDACTION_YAML
    + """
exporters:
  file: {path: "OUT", flush_interval: 100ms}
service:
  admin: {endpoint: "{admin}"}
  pipelines:
    traces: {receivers: [otlp], processors: [redaction, batch], exporters: [file]}
    metrics: {receivers: [otlp, statsd], processors: [redaction, batch], exporters: [file]}
"""
)

SECRETS = load("secrets.jsonl")
GENERIC = [e for e in SECRETS if "key" not in e]
BOUND = [e for e in SECRETS if "key" in e]


def _post(port: int, path: str, body: bytes) -> int:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, headers={"Content-Type": "application/x-protobuf"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(r.status)


def _sdk_spans(port: int) -> None:
    """Every generic secret in the resource, the scope, a span's name, attributes, event, link and status; every
    key-bound secret under its key."""
    resource = Resource.create({f"r{i}": e["value"] for i, e in enumerate(GENERIC)} | {"marker": "sdk-e2e"})
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=10)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("e2e", attributes={f"s{i}": e["value"] for i, e in enumerate(GENERIC)})
    with tracer.start_as_current_span("parent") as parent:
        link = Link(parent.get_span_context(), attributes={"note": GENERIC[0]["value"]})
    for e in GENERIC:
        v = e["value"]
        with tracer.start_as_current_span(v, attributes={"note": v, "tags": ["x", v]}, links=[link]) as span:
            span.add_event(v, {"exception.message": v, "exception.stacktrace": f"Error: {v}"})
            span.set_status(Status(StatusCode.ERROR, v))
    with tracer.start_as_current_span("bound", attributes={e["key"]: e["value"] for e in BOUND[:1]}):
        pass
    for e in BOUND:
        with tracer.start_as_current_span("GET /x", attributes={e["key"]: e["value"], "marker": "bound"}):
            pass
    provider.shutdown()


def _statsd(port: int) -> None:
    dog = DogStatsd(host="127.0.0.1", port=port, disable_telemetry=True, origin_detection_enabled=False)
    tags = [
        "user:alice.smith@example.com",
        "card:4111111111111111",
        f"token:{next(s for e in SECRETS if e['kind'] == 'github_token' for s in e['secrets'])}",
        "password:hunter2-statsd-canary",
        "auth:Bearer statsdBearerCanary0123456789",
        f"key:{next(s for e in SECRETS if e['kind'] == 'aws_access_key' for s in e['secrets'])}",
        "env:prod",
    ]
    for _ in range(3):
        dog.increment("e2e.logins", 1, tags=tags)
        dog.gauge("e2e.queue", 5, tags=tags)
    dog.close_socket()


def test_nothing_secret_reaches_the_file(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    http, udp = free_port(), free_port(socket.SOCK_DGRAM)
    text = CONFIG.replace("HTTP_PORT", str(http)).replace("UDP_PORT", str(udp)).replace("OUT", str(out))
    with AgentProcess(text, workdir=tmp_path) as agent:
        _sdk_spans(http)
        assert _post(http, "/v1/traces", traces_with(SECRETS).serialize()) == 200
        assert _post(http, "/v1/metrics", metrics_with(SECRETS).serialize()) == 200
        _statsd(udp)
        wait_for(lambda: out.exists() and b"e2e.logins" in out.read_bytes() and b"e2e.queue" in out.read_bytes())
        wait_for(lambda: out.read_bytes().count(b"sdk-e2e") >= 1 and b'"bound"' in out.read_bytes())
        metric = agent.metric
        assert metric("edgetel_redaction_redacted_total", processor="redaction", rule="email", signal="traces") > 0
        assert metric("edgetel_redaction_redacted_total", processor="redaction", rule="email", signal="metrics") > 0
        assert metric("edgetel_redaction_redacted_total", processor="redaction", rule="gen_ai", signal="traces") > 0
        agent.stop()
    raw = out.read_bytes()
    leaks = [(e["kind"], s) for e in SECRETS for s in e["secrets"] if s.encode() in raw]
    statsd_secrets = [b"alice.smith@example.com", b"4111111111111111", b"hunter2-statsd-canary", b"statsdBearerCanary"]
    assert leaks == [] and [s for s in statsd_secrets if s in raw] == []
    assert b"[redacted:email]" in raw and b"[redacted:sensitive_keys]" in raw and b"REDACTED" in raw
