"""The one-loop ScopeSpans scanner agrees with the generic protobuf field scanner (property-based)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans

from edgetel.processors.tailsampling.buffer import fields, scope_fields


@st.composite
def scope_spans(draw: st.DrawFn) -> bytes:
    ss = ScopeSpans()
    if draw(st.booleans()):
        ss.scope.name = draw(st.text(max_size=20))
    if draw(st.booleans()):
        ss.schema_url = draw(st.text(max_size=20))
    for _ in range(draw(st.integers(0, 5))):
        sp = ss.spans.add(name=draw(st.text(max_size=30)))
        sp.trace_id = draw(st.binary(min_size=16, max_size=16))
        # sizes around the 1- and 2-byte length boundaries (128 B, 16 KiB)
        size = draw(st.sampled_from([0, 100, 200, 16_300, 16_500]))
        if size:
            sp.attributes.add(key="pad").value.string_value = "x" * size
    return bytes(ss.SerializeToString())


@settings(max_examples=150, deadline=None)
@given(scope_spans(), st.binary(max_size=3))
def test_scope_fields_agrees_with_fields(raw: bytes, junk: bytes) -> None:
    for buf in (raw, raw + junk):
        fast = scope_fields(buf, 0, len(buf))
        slow = fields(buf, 0, len(buf))
        if fast is None:
            continue  # the caller falls back to `fields`
        assert slow is not None
        frame, spans = fast
        assert spans == [(a, e) for fn, a, e in slow if fn == 2]
        assert frame == b"".join(buf[a:e] for fn, a, e in slow if fn in (1, 3))
    assert scope_fields(raw, 0, len(raw)) is not None or any(
        e - a > 16_000 for fn, a, e in fields(raw, 0, len(raw)) or () if fn == 2
    )
