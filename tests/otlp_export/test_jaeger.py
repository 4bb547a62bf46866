"""The `jaeger` exporter: the OTLP-to-Jaeger mapping checked tag by tag at a test Jaeger collector."""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edgetel.exporters.jaeger import model
from edgetel.exporters.jaeger.gojson import go_float, go_json
from edgetel.exporters.jaeger.translate import translate
from edgetel.pdata import Traces
from tests.helpers import IN_CI
from tests.support.certs import have_tools, make_certs
from tests.support.component_testing import FAST_RETRY, config_problems
from tests.support.jaeger_server import JaegerServer
from tests.support.otlp_data import ALL_TYPES, T0, any_value, attrs, sample_traces, span_id, trace_id
from tests.support.otlp_server import ServerTLS

STRING, BOOL, INT64, FLOAT64, BINARY = range(5)


def cfg(endpoint: str, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {"endpoint": endpoint, "tls": {"insecure": True}, "retry_on_failure": FAST_RETRY}
    base.update(extra)
    return base


def tag_tuple(kv: Any) -> tuple[str, int, Any]:
    value = {STRING: kv.v_str, BOOL: kv.v_bool, INT64: kv.v_int64, FLOAT64: kv.v_float64, BINARY: kv.v_binary}
    return kv.key, kv.v_type, value[kv.v_type]


def one_span_request() -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(attrs({"host.name": "edge-1", "service.name": "checkout", "pid": 7}))
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = "io.opentelemetry.http", "1.9"
    sp = ss.spans.add(name="GET /cart", kind=3, trace_state="congo=t61rcWkgMzE")
    sp.trace_id, sp.span_id, sp.parent_span_id = trace_id(1), span_id(1), span_id(0)
    sp.start_time_unix_nano, sp.end_time_unix_nano = T0, T0 + 2_250_000_001
    sp.flags = 0x101
    sp.attributes.extend(attrs(ALL_TYPES))
    sp.status.code, sp.status.message = 2, "timeout talking to db"
    ev = sp.events.add(time_unix_nano=T0 + 5, name="exception")
    ev.attributes.extend(attrs({"exception.type": "IOError", "retries": 3}))
    sp.events.add(time_unix_nano=T0 + 6, name="named").attributes.extend(attrs({"event": "explicit"}))
    sp.links.add(trace_id=trace_id(7), span_id=span_id(7)).attributes.extend(attrs({"x": 1}))
    sp.links.add(trace_id=trace_id(8), span_id=span_id(8)).attributes.extend(
        attrs({"opentracing.ref_type": "child_of"})
    )
    return req


EXPECTED_TAGS = [
    ("otel.scope.name", STRING, "io.opentelemetry.http"),
    ("otel.scope.version", STRING, "1.9"),
    ("str", STRING, 'hello <wörld> & "q"'),
    ("int", INT64, -42),
    ("big", INT64, 2**63 - 1),
    ("double", FLOAT64, 3.25),
    ("bool", BOOL, True),
    ("bytes", BINARY, b"\x00\x01\xfe"),
    ("array", STRING, '["a",1,2.5,false]'),
    ("map", STRING, '{"a":"x","nested":{"k":[1,2]},"z":1}'),
    ("empty", STRING, ""),
    ("span.kind", STRING, "client"),
    ("otel.status_code", STRING, "ERROR"),
    ("error", BOOL, True),
    ("otel.status_description", STRING, "timeout talking to db"),
    ("w3c.tracestate", STRING, "congo=t61rcWkgMzE"),
]


async def test_mapping_tag_by_tag(build) -> None:
    async with JaegerServer() as srv:
        b = build("jaeger", cfg(srv.endpoint, headers={"x-scope-orgid": "tenant-7"}))
        await b.exporter.start()
        await b.exporter.consume(Traces(one_span_request()))
        await srv.wait_for(spans=1)
        await b.shutdown()
    got = srv.received[0]
    assert got.headers["x-scope-orgid"] == "tenant-7"
    batch = got.message.batch
    assert batch.process.service_name == "checkout"
    assert [tag_tuple(t) for t in batch.process.tags] == [("host.name", STRING, "edge-1"), ("pid", INT64, 7)]
    (span,) = batch.spans
    assert span.trace_id == trace_id(1) and len(span.trace_id) == 16
    assert span.span_id == span_id(1) and len(span.span_id) == 8
    assert span.operation_name == "GET /cart"
    assert span.flags == 1
    assert (span.start_time.seconds, span.start_time.nanos) == (T0 // 10**9, T0 % 10**9)
    assert (span.duration.seconds, span.duration.nanos) == (2, 250_000_001)
    assert [(r.trace_id, r.span_id, r.ref_type) for r in span.references] == [
        (trace_id(1), span_id(0), model.CHILD_OF),
        (trace_id(7), span_id(7), model.FOLLOWS_FROM),
        (trace_id(8), span_id(8), model.CHILD_OF),
    ]
    assert [tag_tuple(t) for t in span.tags] == EXPECTED_TAGS
    log1, log2 = span.logs
    assert (log1.timestamp.seconds, log1.timestamp.nanos) == ((T0 + 5) // 10**9, (T0 + 5) % 10**9)
    assert [tag_tuple(f) for f in log1.fields] == [
        ("event", STRING, "exception"),
        ("exception.type", STRING, "IOError"),
        ("retries", INT64, 3),
    ]
    assert [tag_tuple(f) for f in log2.fields] == [("event", STRING, "explicit")]  # no second `event`
    assert not span.process.service_name and not span.process_id  # the process is the batch's
    assert b.value("edgetel_exporter_sent_spans_total") == 1


def test_the_rest_of_the_mapping() -> None:
    req = ExportTraceServiceRequest()
    req.resource_spans.add().scope_spans.add().spans.add(trace_id=trace_id(1), span_id=span_id(1), kind=0)
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(attrs({"host.name": "h"}))
    ss = rs.scope_spans.add()  # a scope without name or version: no otel.scope.* tags
    sp = ss.spans.add(trace_id=trace_id(2), span_id=span_id(2), parent_span_id=span_id(9), kind=5)
    sp.status.code = 1
    sp.start_time_unix_nano, sp.end_time_unix_nano = T0 + 10, T0  # ends before it starts
    # a link to the parent: sets the parent reference's type instead of adding one
    sp.links.add(trace_id=trace_id(2), span_id=span_id(9))
    req.resource_spans.add()  # no attributes and no spans: no batch
    out, skipped = translate(req)
    assert skipped == 0 and [n for _, n in out] == [1, 1]
    b1, b2 = (model.PostSpansRequest.FromString(raw).batch for raw, _ in out)
    assert b1.process.service_name == "OTLPResourceNoServiceName" and not b1.process.tags
    assert not b1.spans[0].tags and not b1.spans[0].references and b1.spans[0].flags == 0
    assert b2.process.service_name == ""  # attributes but no service.name, as the Collector
    s2 = b2.spans[0]
    assert [tag_tuple(t) for t in s2.tags] == [("span.kind", STRING, "consumer"), ("otel.status_code", STRING, "OK")]
    assert [(r.span_id, r.ref_type) for r in s2.references] == [(span_id(9), model.FOLLOWS_FROM)]
    assert (s2.duration.seconds, s2.duration.nanos) == (0, -10)


def test_every_kind_and_status() -> None:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for kind in range(6):
        for code in range(3):
            sp = ss.spans.add(trace_id=trace_id(1), span_id=span_id(kind * 3 + code), kind=kind)
            sp.status.code = code
    (raw, _), = translate(req)[0]  # fmt: skip
    spans = model.PostSpansRequest.FromString(raw).batch.spans
    kinds = [None, "internal", "server", "client", "producer", "consumer"]
    for i, span in enumerate(spans):
        kind, code = divmod(i, 3)
        tags = [tag_tuple(t) for t in span.tags]
        want = [] if kinds[kind] is None else [("span.kind", STRING, kinds[kind])]
        want += [[], [("otel.status_code", STRING, "OK")], [("otel.status_code", STRING, "ERROR"),
                 ("error", BOOL, True)]][code]  # fmt: skip
        assert tags == want, (kind, code)


def test_spans_with_invalid_ids_are_skipped() -> None:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    ss.spans.add(trace_id=b"\x01" * 15, span_id=span_id(1))
    ss.spans.add(trace_id=trace_id(1), span_id=b"")
    ss.spans.add(trace_id=trace_id(1), span_id=span_id(2))
    out, skipped = translate(req)
    assert skipped == 2 and [n for _, n in out] == [1]


# --- field numbers, checked against the published IDL with a decoder independent of our descriptors


def wire(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) in order; length-delimited values as bytes."""
    out, i = [], 0

    def varint() -> int:
        nonlocal i
        shift = result = 0
        while True:
            b = data[i]
            i += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    while i < len(data):
        key = varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            out.append((num, wt, varint()))
        elif wt == 1:
            out.append((num, wt, struct.unpack_from("<d", data, i)[0]))
            i += 8
        elif wt == 2:
            n = varint()
            out.append((num, wt, data[i : i + n]))
            i += n
        else:
            raise AssertionError(f"unexpected wire type {wt}")
    return out


def fields(data: bytes) -> dict[int, list[Any]]:
    d: dict[int, list[Any]] = {}
    for num, _, value in wire(data):
        d.setdefault(num, []).append(value)
    return d


def test_field_numbers_match_the_jaeger_idl() -> None:
    (raw, _), = translate(one_span_request())[0]  # fmt: skip
    req = fields(raw)
    assert set(req) == {1}  # PostSpansRequest.batch = 1
    batch = fields(req[1][0])
    assert set(batch) == {1, 2}  # Batch.spans = 1, process = 2
    process = fields(batch[2][0])
    assert process[1] == [b"checkout"]  # Process.service_name = 1
    assert fields(process[2][1]) == {1: [b"pid"], 2: [INT64], 5: [7]}  # KeyValue key=1 v_type=2 v_int64=5
    span = fields(batch[1][0])
    assert span[1] == [trace_id(1)] and span[2] == [span_id(1)] and span[3] == [b"GET /cart"]
    assert fields(span[4][1]) == {1: [trace_id(7)], 2: [span_id(7)], 3: [1]}  # SpanRef; FOLLOWS_FROM = 1
    assert span[5] == [1]  # flags
    assert fields(span[6][0]) == {1: [T0 // 10**9], 2: [T0 % 10**9]}  # Timestamp
    assert fields(span[7][0]) == {1: [2], 2: [250_000_001]}  # Duration
    tags = [fields(t) for t in span[8]]
    assert tags[3] == {1: [b"int"], 2: [INT64], 5: [(-42) & (2**64 - 1)]}
    assert tags[5] == {1: [b"double"], 2: [FLOAT64], 6: [3.25]}
    assert tags[6] == {1: [b"bool"], 2: [BOOL], 4: [1]}
    assert tags[7] == {1: [b"bytes"], 2: [BINARY], 7: [b"\x00\x01\xfe"]}
    assert tags[2] == {1: [b"str"], 3: ['hello <wörld> & "q"'.encode()]}  # STRING = 0 is not written
    log = fields(span[9][0])  # Log.timestamp = 1, fields = 2
    assert fields(log[1][0]) == {1: [(T0 + 5) // 10**9], 2: [(T0 + 5) % 10**9]}
    assert fields(log[2][0]) == {1: [b"event"], 3: [b"exception"]}
    assert 10 not in span and 11 not in span and 12 not in span


# --- Go's encoding/json for arrays and maps


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (-0.0, "-0"),
        (0.1, "0.1"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-10, "1.5e-10"),
        (123456789.0, "123456789"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (5e-324, "5e-324"),
        (2.5, "2.5"),
    ],
)
def test_go_float(value: float, text: str) -> None:
    assert go_float(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_go_float_round_trips(f: float) -> None:
    text = go_float(f)
    assert float(text) == f
    assert "E" not in text and not text.endswith(".")


def test_go_json_escapes_and_sorting() -> None:
    v = any_value({"b": ["<&>", "\u2028", "\n\x01"], "a": None, "c": b"\xff", "d": {"y": 1.0, "x": True}})
    assert go_json(v) == (
        '{"a":null,"b":["\\u003c\\u0026\\u003e","\\u2028","\\n\\u0001"],'
        '"c":"' + base64.b64encode(b"\xff").decode() + '","d":{"x":true,"y":1}}'
    )
    assert go_json(any_value([math.nan])) == ""  # Go's json.Marshal fails on NaN: AsString gives ""


# --- transport behaviour


async def test_every_resource_arrives_once_despite_a_retry(build) -> None:
    traces = Traces(sample_traces(2))  # 2 resources: 2 PostSpans calls
    async with JaegerServer() as srv:
        srv.script(grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE)  # the second call fails once
        b = build("jaeger", cfg(srv.endpoint, compression="gzip"))
        await b.exporter.start()
        await b.exporter.consume(traces)
        await srv.wait_for(spans=8, attempts=3)
        await b.shutdown()
    assert [a.answer for a in srv.attempts] == ["OK", "UNAVAILABLE", "OK"]
    assert [r.message.batch.process.service_name for r in srv.received] == ["svc-0", "svc-1"]
    assert b.value("edgetel_exporter_retries_total") == 1
    assert b.value("edgetel_exporter_sent_spans_total") == 8


async def test_non_retryable_error_drops(build) -> None:
    async with JaegerServer() as srv:
        srv.script(grpc.StatusCode.INVALID_ARGUMENT, message="bad span")
        b = build("jaeger", cfg(srv.endpoint))
        await b.exporter.start()
        await b.exporter.consume(Traces(one_span_request()))
        await srv.wait_for(attempts=1)
        await b.shutdown()
    assert b.value("edgetel_exporter_send_failed_spans_total") == 1
    assert b.value("edgetel_exporter_send_errors_total", code="INVALID_ARGUMENT") == 1


def test_config() -> None:
    from edgetel.exporters.jaeger.config import Config
    from edgetel.helpers.grpc_settings import parse_grpc_endpoint

    assert Config().compression == "none"
    assert parse_grpc_endpoint("jaeger-collector", Config.default_port) == ("jaeger-collector:14250", False)
    assert config_problems("jaeger", {"endpoint": "jaeger:14250", "tls": {"insecure": True}}) == []


async def test_mtls(build, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if not have_tools():
        if IN_CI:
            pytest.fail("openssl CLI not installed (CI=true: not skipping)")
        pytest.skip("openssl CLI not installed")
    certs = make_certs(tmp_path)
    async with JaegerServer(tls=ServerTLS(certs.server_cert, certs.server_key, certs.ca)) as srv:
        tls = {"ca_file": certs.ca, "cert_file": certs.client_cert, "key_file": certs.client_key}
        b = build("jaeger", {"endpoint": srv.endpoint, "tls": tls, "retry_on_failure": FAST_RETRY})
        await b.exporter.start()
        await b.exporter.consume(Traces(one_span_request()))
        await srv.wait_for(spans=1)
        await b.shutdown()
