"""The compiled intake walker against its Python reference (property-based): the same blocks for requests built
through protobuf and by the OpenTelemetry SDK; for arbitrary or damaged bytes, no crash, and either None or the
reference's answer whenever protobuf accepts the bytes."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edgetel.processors.tailsampling.intake import native_walk, split, walk, walk_message
from tests.tailsampling.helpers import requests

pytestmark = pytest.mark.skipif(native_walk is None, reason="edgetel._native.tailsampling is not built")

def parsed(raw: bytes) -> ExportTraceServiceRequest | None:
    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(raw)
    except DecodeError:
        return None
    return req


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_same_blocks_as_the_reference(raw: bytes) -> None:
    req = parsed(raw)
    assert req is not None and native_walk is not None
    want = walk_message(raw, req)
    assert native_walk(raw) == want
    # re-encoded spans: the same bytes for a canonical encoding (an empty scope may lose its empty frame)
    assert [b[2:] for b in walk_message(None, req)] == [b[2:] for b in want]
    assert [b[2:] for b in walk(None, lambda: req)] == [b[2:] for b in want]  # serialized once, walked in C


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.data())
def test_damaged_bytes_never_crash_and_agree_when_protobuf_accepts_them(raw: bytes, data: st.DataObject) -> None:
    assert native_walk is not None
    buf = bytearray(raw + data.draw(st.binary(max_size=4)))
    for _ in range(data.draw(st.integers(0, 3))):
        if buf:
            i = data.draw(st.integers(0, len(buf) - 1))
            buf[i] = data.draw(st.integers(0, 255))
    cut = bytes(buf[: data.draw(st.integers(0, len(buf)))])
    for b in (bytes(buf), cut):
        got = native_walk(b)
        req = parsed(b)
        if got is not None and req is not None:
            assert got == walk_message(b, req)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(raw: bytes) -> None:
    assert native_walk is not None
    got = native_walk(raw)
    req = parsed(raw)
    if got is not None and req is not None:
        assert got == walk_message(raw, req)


def test_unusual_encodings_fall_back() -> None:
    assert native_walk is not None
    # a group (wire type 3) inside a span, a truncated request, a 12-byte varint, a span name that is not UTF-8
    assert native_walk(b"\x0a\x08\x12\x06\x12\x04\x0b\x08\x01\x0c") is None
    assert native_walk(b"\x0a\x05\x12\x03") is None
    assert native_walk(b"\x08" + b"\xff" * 11 + b"\x01") is None
    assert native_walk(b"\x0a\x08\x12\x06\x12\x04\x2a\x02\xff\xfe") is None
    assert native_walk(b"") == []


def test_sdk_requests() -> None:
    """Spans recorded by the OpenTelemetry SDK and encoded by its OTLP exporter."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import Status, StatusCode

    finished: list[ReadableSpan] = []

    class Keep(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            finished.extend(spans)
            return SpanExportResult.SUCCESS

    provider = TracerProvider(resource=Resource.create({"service.name": "checkout", "host.name": "edge-1"}))
    provider.add_span_processor(SimpleSpanProcessor(Keep()))
    for lib in ("flask", "sqlalchemy"):
        tracer = provider.get_tracer(lib, "1.0")
        for n in range(5):
            with (tracer.start_as_current_span(f"GET /{n}", attributes={"http.route": f"/{n}"}),
                  tracer.start_as_current_span("SELECT") as child):  # fmt: skip
                if n == 3:
                    child.set_status(Status(StatusCode.ERROR, "boom"))
    raw = bytes(encode_spans(finished).SerializeToString())
    req = parsed(raw)
    assert req is not None and native_walk is not None
    got = native_walk(raw)
    assert got is not None and got == walk_message(raw, req)
    assert {b[2] for b in got} == {"checkout"}
    groups = [g for b in got for g in b[3]]
    assert len(groups) == 10 and all(g[2] == 2 and g[6] is not None for g in groups)
    assert sum(1 for g in groups if g[5] & 4) == 2  # one ERROR span per library


@given(requests())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_split_gives_the_spans_one_by_one(raw: bytes) -> None:
    for *_, groups in walk_message(raw, parsed(raw)):
        for g in groups:
            singles = split(g)
            assert len(singles) == g[2]
            assert b"".join(s[1] for s in singles) == g[1]
            assert min(s[3] for s in singles) == g[3] and max(s[4] for s in singles) == g[4]
            codes = 0
            for s in singles:
                codes |= s[5]
            assert codes == g[5]
            assert next((s[6] for s in singles if s[6] is not None), None) == g[6]
            assert singles[0][7] == g[7]


async def test_a_group_encoded_unknown_field_falls_back_to_the_python_walker() -> None:
    """protobuf accepts an unknown group (wire types 3/4) inside a span; the compiled walker declines the request
    and the processor buffers and re-emits the span, unknown field included, through the Python walker."""
    from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans

    from edgetel.pdata import Traces
    from tests.tailsampling.helpers import build, span

    sp = span(1, 1, status=2)[1].SerializeToString() + b"\xfb\x01\x08\x01\xfc\x01"  # group 31 { field 1: 1 }
    ss = ScopeSpans()
    ss.spans.add().ParseFromString(sp)
    req = ExportTraceServiceRequest()
    req.resource_spans.add().scope_spans.append(ss)
    raw = bytes(req.SerializeToString())
    assert native_walk is not None and native_walk(raw) is None
    b = build({"write_threshold": False,
               "policies": [{"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}}]})
    await b.proc.consume(Traces.parse(raw))
    await b.advance(11)
    assert [s.SerializeToString() for _, s in b.out.spans()] == [sp]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.lists(requests(), min_size=1, max_size=4), st.integers(1, 4), st.integers(0, 3))
def test_the_processor_does_the_same_with_either_walker(raws: list[bytes], max_spans: int, cache: int) -> None:
    """Whole-processor differential: the same batches through the compiled and the Python walker give the same
    emitted spans in the same order, the same counters and the same buffer accounting."""
    import asyncio

    from edgetel.pdata import Traces
    from edgetel.processors.tailsampling import intake
    from tests.tailsampling.helpers import build

    def run(native: bool) -> tuple[list[bytes], dict[str, float], list[dict[str, int]]]:
        saved = intake.native_walk
        intake.native_walk = native_walk if native else None
        try:
            b = build({"decision_wait": "2s", "root_grace": "1s", "max_spans_per_trace": max_spans,
                       "decision_cache": {"sampled_cache_size": cache, "non_sampled_cache_size": cache},
                       "policies": [
                           {"name": "e", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
                           {"name": "s", "type": "latency_percentile", "latency_percentile": {"min_traces": 2}},
                           {"name": "p", "type": "probabilistic", "probabilistic": {"sampling_percentage": 30}}]})
            stats = []

            async def feed() -> None:
                for raw in raws + raws:  # the second round: late spans of decided traces
                    await b.proc.consume(Traces.parse(raw))
                    stats.append(b.proc.stats())
                    await b.advance(1.5)
                await b.proc.shutdown()
                stats.append(b.proc.stats())

            asyncio.run(feed())
        finally:
            intake.native_walk = saved
        names = ["spans_received_total", "traces_received_total", "late_spans_total", "early_decisions_total",
                 "traces_decided_total", "spans_decided_total"]  # fmt: skip
        counters = {n: b.value(f"edgetel_tailsampling_{n}") for n in names}
        return [sp.SerializeToString() for _, sp in b.out.spans()], counters, stats

    assert run(True) == run(False)
