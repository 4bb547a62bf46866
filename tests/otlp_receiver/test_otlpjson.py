"""edgetel.pdata.otlpjson: OTLP JSON encode/decode, the OTLP rules, and decode never raising anything but ValueError."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgetel.component.ids import Signal
from edgetel.pdata import Metrics, Traces, otlpjson
from tests.otlp_receiver import sdkdata


@pytest.fixture(scope="module")
def sdk_traces() -> Traces:
    return Traces(sdkdata.expected_traces(sdkdata.make_spans()))


@pytest.fixture(scope="module")
def sdk_metrics() -> Metrics:
    return Metrics(sdkdata.expected_metrics(sdkdata.make_metrics()))


def test_round_trip_sdk_data(sdk_traces: Traces, sdk_metrics: Metrics) -> None:
    assert otlpjson.decode(otlpjson.encode(sdk_traces), Signal.TRACES).request == sdk_traces.request
    assert otlpjson.decode(otlpjson.encode(sdk_metrics), Signal.METRICS).request == sdk_metrics.request


def test_encoding_follows_the_otlp_rules(sdk_traces: Traces, sdk_metrics: Metrics) -> None:
    obj = orjson.loads(otlpjson.encode(sdk_traces))
    span = obj["resourceSpans"][0]["scopeSpans"][0]["spans"][-1]
    raw = sdk_traces.request.resource_spans[0].scope_spans[0].spans[-1]
    assert span["traceId"] == raw.trace_id.hex() and span["spanId"] == raw.span_id.hex()  # hex, not base64
    assert isinstance(span["kind"], int)  # integer enums
    assert isinstance(span["startTimeUnixNano"], str)  # 64-bit integers as strings
    child = next(s for s in obj["resourceSpans"][0]["scopeSpans"][0]["spans"] if s["name"] == "child")
    assert child["parentSpanId"] == span["spanId"] and child["links"][0]["spanId"] == span["spanId"]
    assert child["status"] == {"code": 2, "message": "boom"}
    assert "scopeSpans" in obj["resourceSpans"][0] and "scope_spans" not in obj["resourceSpans"][0]
    mobj = orjson.loads(otlpjson.encode(sdk_metrics))
    metric = mobj["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]
    assert metric["sum"]["aggregationTemporality"] == 2


def test_exemplar_and_bytes_fields() -> None:
    m = Metrics()
    dp = m.request.resource_metrics.add().scope_metrics.add().metrics.add(name="x").gauge.data_points.add()
    dp.exemplars.add(trace_id=b"\xab" * 16, span_id=b"\xcd" * 8, as_double=1.0)
    dp.attributes.add(key="raw").value.bytes_value = b"\xab\xcd"
    obj = orjson.loads(otlpjson.encode(m))
    pt = obj["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["gauge"]["dataPoints"][0]
    assert pt["exemplars"][0]["traceId"] == "ab" * 16 and pt["exemplars"][0]["spanId"] == "cd" * 8
    assert pt["attributes"][0]["value"]["bytesValue"] == "q80="  # other bytes stay base64
    assert otlpjson.decode(otlpjson.encode(m), Signal.METRICS).request == m.request


def test_numbers_or_strings_snake_or_camel_unknown_fields() -> None:
    body = {
        "resource_spans": [
            {
                "scope_spans": [
                    {
                        "spans": [
                            {
                                "trace_id": "0102030405060708090a0b0c0d0e0f10",
                                "spanId": "0102030405060708",
                                "startTimeUnixNano": 1700000000000000000,
                                "endTimeUnixNano": "1700000000000000001",
                                "kind": 3,
                                "futureField": [1, 2],
                            }
                        ],
                        "futureScopeField": "x",
                    }
                ]
            }
        ]
    }
    t = otlpjson.decode(orjson.dumps(body), Signal.TRACES)
    span = t.request.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == bytes(range(1, 17)) and span.kind == 3
    assert span.start_time_unix_nano == 1700000000000000000 and span.end_time_unix_nano == 1700000000000000001


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abcd"}]}]}]}', "spans[0].traceId"),
        (b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"zz00000000000000"}]}]}]}', "not hexadecimal"),
        (b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":7}]}]}]}', "spanId"),
        (b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"links":[{"traceId":"00"}]}]}]}]}', "links[0].traceId"),
        (b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":[1]}]}]}]}', "kind"),
        (b"[1]", "JSON object"),
        (b"\xff", "invalid JSON"),
    ],
)
def test_bad_input_names_the_problem(body: bytes, needle: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        otlpjson.decode(body, Signal.TRACES)
    assert needle in str(info.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4),
    max_leaves=30,
)
KEYS = ["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "links", "attributes", "key", "value",
        "stringValue", "intValue", "arrayValue", "values", "kvlistValue", "resourceMetrics", "scopeMetrics",
        "metrics", "sum", "gauge", "dataPoints", "exemplars", "asInt", "kind", "status", "code", "events"]  # fmt: skip
otlp_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet="0123456789abcdefAZ", max_size=34) | st.floats(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=40,
)


def _decode_only_value_error(data: bytes, signal: Signal) -> None:
    try:
        otlpjson.decode(data, signal)
    except ValueError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200), st.sampled_from([Signal.TRACES, Signal.METRICS]))
def test_decode_random_bytes(data: bytes, signal: Signal) -> None:
    _decode_only_value_error(data, signal)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(otlp_like | json_values, st.sampled_from([Signal.TRACES, Signal.METRICS]))
def test_decode_random_json(value: Any, signal: Signal) -> None:
    try:
        data = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return
    _decode_only_value_error(data, signal)


def test_deeply_nested_values_are_a_value_error() -> None:
    inner = '{"stringValue":"x"}'
    for _ in range(400):
        inner = '{"arrayValue":{"values":[' + inner + "]}}"
    body = '{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":' + inner + "}]}}]}"
    with pytest.raises(ValueError):
        otlpjson.decode(body.encode(), Signal.TRACES)


ints64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
uints64 = st.integers(min_value=0, max_value=2**64 - 1)
doubles = st.floats(allow_nan=False)  # NaN != NaN would fail the equality, not the codec
any_scalar = st.one_of(
    st.text(max_size=10).map(lambda v: ("string_value", v)),
    st.booleans().map(lambda v: ("bool_value", v)),
    ints64.map(lambda v: ("int_value", v)),
    doubles.map(lambda v: ("double_value", v)),
    st.binary(max_size=8).map(lambda v: ("bytes_value", v)),
)
spans_st = st.lists(
    st.tuples(
        st.binary(min_size=16, max_size=16),
        st.binary(min_size=8, max_size=8),
        st.sampled_from([b"", b"\x01" * 8]),
        st.integers(0, 5),
        uints64,
        st.lists(st.tuples(st.text(max_size=8), any_scalar), max_size=4),
        st.lists(st.tuples(st.binary(min_size=16, max_size=16), st.binary(min_size=8, max_size=8)), max_size=2),
        st.integers(0, 2),
    ),
    max_size=5,
)


@settings(max_examples=200, deadline=None)
@given(spans_st, st.lists(st.tuples(ints64, doubles, uints64), max_size=4))
def test_round_trip_random_messages(spans: list[Any], points: list[Any]) -> None:
    t = Traces()
    ss = t.request.resource_spans.add().scope_spans.add()
    for trace_id, span_id, parent, kind, start, attrs, links, code in spans:
        sp = ss.spans.add(trace_id=trace_id, span_id=span_id, parent_span_id=parent, kind=kind)
        sp.start_time_unix_nano = start
        sp.status.code = code
        for key, (field, value) in attrs:
            setattr(sp.attributes.add(key=key).value, field, value)
        for lt, ls in links:
            sp.links.add(trace_id=lt, span_id=ls)
    assert otlpjson.decode(otlpjson.encode(t), Signal.TRACES).request == t.request
    m = Metrics()
    metric = m.request.resource_metrics.add().scope_metrics.add().metrics.add(name="m")
    for as_int, as_double, ts in points:
        metric.sum.data_points.add(as_int=as_int, time_unix_nano=ts)
        metric.sum.data_points.add(as_double=as_double).exemplars.add(
            as_double=as_double, trace_id=b"\x02" * 16, span_id=b"\x03" * 8
        )
    assert otlpjson.decode(otlpjson.encode(m), Signal.METRICS).request == m.request
