"""The compiled spanmetrics aggregation against the Python loop (property-based): the same series, calls and
bucket counts, and duration sums equal up to floating-point rounding (the compiled path adds each batch's sum
per series once, the Python loop span by span)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgetel.connectors.spanmetrics import connector
from edgetel.pdata import Traces
from tests.spanmetrics.test_connector import make
from tests.tailsampling.helpers import ROUTE, requests

NATIVE = connector.native_span_metrics  # (the autouse fixture may set the module's to None)
pytestmark = pytest.mark.skipif(NATIVE is None, reason="edgetel._native.tailsampling is not built")


def run(raws: list[bytes], cfg: dict[str, Any], native: bool) -> tuple[dict[Any, Any], int]:
    saved = connector.native_span_metrics
    connector.native_span_metrics = NATIVE if native else None
    try:
        conn, _, _ = make(cfg)
        for raw in raws:
            asyncio.run(conn.consume(Traces.parse(raw)))
    finally:
        connector.native_span_metrics = saved
    agg = conn.agg
    return {k: (s.calls, s.sum, list(s.buckets)) for k, s in agg.series.items()}, agg.overflow_spans


CONFIGS = st.fixed_dictionaries({
    "dimensions": st.lists(st.builds(dict, name=st.sampled_from([ROUTE, "n", "service.name", "host.name"]),
                                     default=st.sampled_from([None, "none"])), max_size=3),
    "exclude_dimensions": st.lists(st.sampled_from(["span.kind", "status.code", "span.name"]), max_size=2),
    "aggregation_cardinality_limit": st.sampled_from([0, 3, 2000]),
    "histogram": st.fixed_dictionaries({"unit": st.sampled_from(["s", "ms"])}),
})  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.lists(requests(), min_size=1, max_size=3), CONFIGS)
def test_same_series_as_the_python_loop(raws: list[bytes], cfg: dict[str, Any]) -> None:
    cfg = {**cfg, "dimensions": [{k: v for k, v in d.items() if v is not None} for d in cfg["dimensions"]]}
    got, got_overflow = run(raws, cfg, native=True)
    want, want_overflow = run(raws, cfg, native=False)
    assert got.keys() == want.keys() and got_overflow == want_overflow
    for k, (calls, total, buckets) in want.items():
        assert got[k][0] == calls and got[k][2] == buckets
        assert math.isclose(got[k][1], total, rel_tol=1e-12, abs_tol=1e-12)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    assert NATIVE is not None
    NATIVE(raw, 1e-9, [0.1, 1.0], [ROUTE, "n"])


def test_bounds_that_change_while_read_are_safe() -> None:
    """A bound's __float__ that empties the bounds list must not make span_metrics read past its end (it read
    freed or missing items before the fix: a crash)."""
    assert NATIVE is not None
    bounds: list[Any] = []

    class Shrinking:
        def __float__(self) -> float:
            bounds.clear()
            return 1.0

    bounds.extend([Shrinking()] + [2.0] * 50)
    assert NATIVE(b"", 1.0, bounds, []) == []
