"""The wire-level Jaeger translator equals the plain protobuf-object reference on random OTLP requests."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edgetel.exporters.jaeger import model
from edgetel.exporters.jaeger.translate import translate
from tests.otlp_export import jaeger_reference
from tests.support.otlp_data import attrs

KEYS = st.one_of(st.sampled_from(["service.name", "event", "opentracing.ref_type", "k", ""]), st.text(max_size=140))
SCALARS = st.one_of(
    st.none(),
    st.text(max_size=200),
    st.sampled_from(["child_of", "follows_from", ""]),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.booleans(),
    st.binary(max_size=150),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)
ATTRS = st.lists(st.tuples(KEYS, VALUES), max_size=5)
TRACE_IDS = st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=17))
SPAN_IDS = st.one_of(st.binary(min_size=8, max_size=8), st.just(bytes(8)), st.binary(max_size=9))
TIMES = st.integers(0, 2**64 - 1)


def kvs(pairs: list[tuple[str, Any]]) -> list[Any]:
    out = []
    for k, v in pairs:
        out.extend(attrs({k: v}))
    return out


@st.composite
def requests(draw: st.DrawFn) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 3))):
        rs = req.resource_spans.add()
        rs.resource.attributes.extend(kvs(draw(ATTRS)))
        for _ in range(draw(st.integers(0, 2))):
            ss = rs.scope_spans.add()
            ss.scope.name = draw(st.text(max_size=5))
            ss.scope.version = draw(st.text(max_size=5))
            for _ in range(draw(st.integers(0, 3))):
                sp = ss.spans.add(trace_id=draw(TRACE_IDS), span_id=draw(SPAN_IDS), name=draw(st.text(max_size=150)))
                sp.parent_span_id = draw(st.one_of(st.just(sp.span_id), SPAN_IDS))
                sp.trace_state = draw(st.text(max_size=10))
                sp.kind = draw(st.integers(0, 6))
                sp.start_time_unix_nano, sp.end_time_unix_nano = draw(TIMES), draw(TIMES)
                sp.attributes.extend(kvs(draw(ATTRS)))
                sp.flags = draw(st.integers(0, 2**32 - 1))
                sp.status.code = draw(st.integers(0, 2))
                sp.status.message = draw(st.text(max_size=5))
                for _ in range(draw(st.integers(0, 2))):
                    ev = sp.events.add(time_unix_nano=draw(TIMES), name=draw(st.text(max_size=5)))
                    ev.attributes.extend(kvs(draw(ATTRS)))
                for _ in range(draw(st.integers(0, 2))):
                    to_parent = draw(st.booleans())
                    link = sp.links.add(
                        trace_id=sp.trace_id if to_parent else draw(TRACE_IDS),
                        span_id=sp.parent_span_id if to_parent else draw(SPAN_IDS),
                    )
                    link.attributes.extend(kvs(draw(ATTRS)))
    return req


def canonical(raw: bytes) -> bytes:
    return bytes(model.PostSpansRequest.FromString(raw).SerializeToString(deterministic=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_wire_translator_equals_reference(req: ExportTraceServiceRequest) -> None:
    got, got_skipped = translate(req)
    want, want_skipped = jaeger_reference.translate(req)
    assert got_skipped == want_skipped
    assert [n for _, n in got] == [n for _, n in want]
    for (g, _), (w, _) in zip(got, want, strict=True):
        assert canonical(g) == canonical(w), (
            model.PostSpansRequest.FromString(g),
            model.PostSpansRequest.FromString(w),
        )


def test_non_canonical_encodings() -> None:
    """Fields out of order, a repeated oneof, a key after its value: parsed like protobuf does."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    def ld(field: int, payload: bytes) -> bytes:
        return bytes([field << 3 | 2, len(payload)]) + payload

    value_first = ld(2, AnyValue(string_value="v").SerializeToString()) + ld(1, b"k")
    two_values = ld(1, b"n") + ld(2, AnyValue(string_value="x").SerializeToString() + b"\x18\x07")  # then int 7
    span = ld(1, bytes(range(16))) + ld(2, bytes(range(8))) + ld(9, value_first) + ld(9, two_values) + ld(5, b"op")
    raw = ld(1, ld(2, ld(2, span)))
    req = ExportTraceServiceRequest.FromString(raw)
    assert [kv.key for kv in req.resource_spans[0].scope_spans[0].spans[0].attributes] == ["k", "n"]
    assert KeyValue.FromString(two_values).value.int_value == 7
    (got, _), (want, _) = translate(raw)[0][0], jaeger_reference.translate(req)[0][0]
    assert canonical(got) == canonical(want)


def test_an_unknown_value_kind_becomes_an_empty_tag() -> None:
    def ld(field: int, payload: bytes) -> bytes:
        return bytes([field << 3 | 2, len(payload)]) + payload

    future_value = ld(1, b"k") + ld(2, ld(9, b"?"))  # AnyValue field 9 does not exist (yet)
    span = ld(1, bytes(range(16))) + ld(2, bytes(range(8))) + ld(9, future_value)
    (raw, _), = translate(ld(1, ld(2, ld(2, span))))[0]  # fmt: skip
    (tag,) = model.PostSpansRequest.FromString(raw).batch.spans[0].tags
    assert (tag.key, tag.v_type, tag.v_str) == ("k", 0, "")
