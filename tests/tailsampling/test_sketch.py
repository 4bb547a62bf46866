"""The sliding-window sketch: the 1% one-sided error bound (property-based), the window and the memory bound."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from edgetel.processors.tailsampling.sketch import GAMMA, WindowedSketch


def exact(values: list[float], q: float) -> float:
    s = sorted(values)
    rank = max(1, math.ceil(q * len(s) - 1e-9))
    return s[rank - 1]


values_st = st.lists(st.floats(min_value=1e-6, max_value=1e4, allow_nan=False), min_size=1, max_size=400)
quantiles_st = st.sampled_from([0.5, 0.9, 0.95, 0.99, 0.999, 1.0])


@settings(max_examples=200, deadline=None)
@given(values_st, quantiles_st)
def test_quantile_is_at_most_1_percent_below_and_never_above(values: list[float], q: float) -> None:
    sk = WindowedSketch(window=60, slots=5, max_bins=4096)
    for v in values:
        sk.add(v, now=1.0)
    got = sk.quantile(q, now=1.0)
    want = exact(values, q)
    assert got is not None
    assert got <= want * (1 + 1e-9)
    assert got >= want / GAMMA * (1 - 1e-9)


@settings(max_examples=100, deadline=None)
@given(values_st, st.sampled_from([0.9, 0.99, 1.0]))
def test_bounded_bins_keep_high_quantiles_exact(values: list[float], q: float) -> None:
    # 64 bins: merging keeps at least the top 48 buckets (a factor of 1.01**48 ~ 1.6); high quantiles keep the bound
    # the quantile lies within the top 64 buckets.
    sk = WindowedSketch(window=60, slots=5, max_bins=64)
    for v in values:
        sk.add(v, now=1.0)
    assert sk.bins() <= 2 * 64 + 2
    want = exact(values, q)
    top = max(values)
    got = sk.quantile(q, now=1.0)
    assert got is not None
    if want >= top / GAMMA**40:
        assert want / GAMMA * (1 - 1e-9) <= got <= want * (1 + 1e-9)


def test_window_forgets_old_values() -> None:
    sk = WindowedSketch(window=50, slots=5)
    for _ in range(100):
        sk.add(10.0, now=0.0)
    for _ in range(100):
        sk.add(1.0, now=30.0)
    assert sk.quantile(0.99, now=30.0) is not None and sk.quantile(0.99, now=30.0) > 9.8  # type: ignore[operator]
    assert sk.count == 200
    q = sk.quantile(0.99, now=55.0)  # the first slot (0..10s) left the window
    assert sk.count == 100 and q is not None and 0.98 < q <= 1.0
    assert sk.quantile(0.5, now=200.0) is None and sk.count == 0


def test_zero_durations_and_cache() -> None:
    sk = WindowedSketch(window=60)
    for _ in range(99):
        sk.add(0.0, now=1.0)
    sk.add(5.0, now=1.0)
    assert sk.quantile(0.99, now=1.0) == 0.0
    assert sk.quantile(1.0, now=1.0) is not None and sk.quantile(1.0, now=1.0) > 4.9  # type: ignore[operator]
    assert sk.quantile_cached(0.99, now=1.0) == 0.0
    for _ in range(50):
        sk.add(5.0, now=1.1)
    assert sk.quantile_cached(0.99, now=1.1) is not None and sk.quantile_cached(0.99, now=1.1) > 4.9  # type: ignore[operator]
