from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edgetel.pdata import Metrics, Traces, merge, split
from tests.helpers import make_metrics, make_traces


def test_counts() -> None:
    assert make_traces(resources=2, spans=3).item_count() == 6
    assert make_metrics(resources=3, points=4).item_count() == 12
    assert Traces().item_count() == 0 and Metrics().item_count() == 0


def test_serialize_roundtrip_is_bytes_identical() -> None:
    t = make_traces(2, 5)
    data = t.serialize()
    assert Traces.parse(data).serialize() == data


def test_merge_keeps_every_resource_and_is_wire_concatenation() -> None:
    a, b = make_traces(1, 2), make_traces(2, 3, service="other")
    m = merge([a, b])
    assert m.item_count() == 8 and m.resource_count() == 3
    # Serialized OTLP requests concatenate on the wire: merging equals concatenation.
    assert Traces.parse(a.serialize() + b.serialize()).serialize() == m.serialize()


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 4), st.integers(1, 20), st.integers(1, 25))
def test_split_traces_preserves_every_span_in_order(resources: int, spans: int, max_items: int) -> None:
    t = make_traces(resources, spans)
    parts = split(t, max_items)
    assert all(p.item_count() <= max_items for p in parts)
    assert sum(p.item_count() for p in parts) == t.item_count()
    flat = [(rs.resource.SerializeToString(), sp.SerializeToString())
            for p in parts for rs in p.request.resource_spans for ss in rs.scope_spans for sp in ss.spans]  # type: ignore[union-attr]
    orig = [(rs.resource.SerializeToString(), sp.SerializeToString())
            for rs in t.request.resource_spans for ss in rs.scope_spans for sp in ss.spans]
    assert flat == orig


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 3), st.integers(1, 15), st.integers(1, 20))
def test_split_metrics_preserves_every_point(resources: int, points: int, max_items: int) -> None:
    m = make_metrics(resources, points)
    parts = split(m, max_items)
    assert all(p.item_count() <= max_items for p in parts)
    assert sum(p.item_count() for p in parts) == m.item_count()
    values = [dp.as_double for p in parts for rm in p.request.resource_metrics  # type: ignore[union-attr]
              for sm in rm.scope_metrics for mm in sm.metrics for dp in mm.gauge.data_points]
    assert values == [float(i) for _ in range(resources) for i in range(points)]
    for p in parts:
        for rm in p.request.resource_metrics:  # type: ignore[union-attr]
            for sm in rm.scope_metrics:
                for mm in sm.metrics:
                    assert mm.name == "m" and mm.unit == "1"


def test_replace_bytes_keeps_the_count_and_decodes_lazily() -> None:
    batch = Traces.parse(make_traces(1, 3).serialize())
    other = make_traces(1, 3, service="renamed").serialize()
    batch.replace_bytes(other)
    assert batch.received_bytes() is other and batch.serialize() is other
    assert batch.item_count() == 3
    assert batch.peek().resource_spans[0].resource.attributes[0].value.string_value == "renamed0"
