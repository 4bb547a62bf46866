"""The sliding-window sketch: exact top values, the 1% bucket bound beyond them (property-based), the lower
confidence bound, the window and the memory bounds."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from edgetel.processors.tailsampling.percentile import normal_quantile
from edgetel.processors.tailsampling.sketch import GAMMA, WindowedSketch


def exact(values: list[float], q: float) -> float:
    s = sorted(values)
    rank = max(1, math.ceil(q * len(s) - 1e-9))
    return s[rank - 1]


values_st = st.lists(st.floats(min_value=1e-6, max_value=1e4, allow_nan=False), min_size=1, max_size=400)
quantiles_st = st.sampled_from([0.5, 0.9, 0.95, 0.99, 0.999, 1.0])


@settings(max_examples=200, deadline=None)
@given(values_st, quantiles_st, st.integers(min_value=1, max_value=5))
def test_upper_quantiles_are_exact_within_the_top_values(values: list[float], q: float, slots: int) -> None:
    sk = WindowedSketch(window=60, slots=slots, max_bins=64, top=16)
    for i, v in enumerate(values):
        sk.add(v, now=i * 59.0 / len(values))  # spread over every slot of the window
    assert sk.exact_values() <= slots * 16
    rank = max(1, math.ceil(q * len(values) - 1e-9))
    got = sk.quantile(q, now=59.0)
    if len(values) - rank + 1 <= 16:
        assert got == exact(values, q)


@settings(max_examples=200, deadline=None)
@given(values_st, quantiles_st)
def test_bucket_quantiles_are_within_1_percent(values: list[float], q: float) -> None:
    sk = WindowedSketch(window=60, slots=5, max_bins=4096, top=0)  # buckets only
    for v in values:
        sk.add(v, now=1.0)
    got = sk.quantile(q, now=1.0)
    want = exact(values, q)
    assert got is not None
    assert want / GAMMA * (1 - 1e-9) <= got <= want * GAMMA * (1 + 1e-9)


@settings(max_examples=100, deadline=None)
@given(values_st, st.sampled_from([0.9, 0.99, 1.0]))
def test_bounded_bins_keep_high_quantiles_within_1_percent(values: list[float], q: float) -> None:
    # 64 bins: merging keeps at least the top 48 buckets (a factor of 1.01**48 ~ 1.6).
    sk = WindowedSketch(window=60, slots=5, max_bins=64, top=4)
    for v in values:
        sk.add(v, now=1.0)
    assert sk.bins() <= 2 * 64 + 2
    want = exact(values, q)
    got = sk.quantile(q, now=1.0)
    assert got is not None
    if want >= max(values) / GAMMA**40:
        assert want / GAMMA * (1 - 1e-9) <= got <= want * GAMMA * (1 + 1e-9)


def test_lower_confidence_bound_rank() -> None:
    sk = WindowedSketch(window=60, top=256)
    values = [float(i) for i in range(1, 10_001)]
    for v in values:
        sk.add(v, now=1.0)
    assert sk.quantile(0.99, now=1.0) == 9900.0
    # rank ceil(9900 - 1 * sqrt(10000 * 0.99 * 0.01)) = ceil(9890.05) = 9891
    assert sk.quantile(0.99, now=1.0, z=1.0) == 9891.0


def test_lower_confidence_bound_covers_the_true_percentile() -> None:
    """At 90% confidence the bound is at or below the distribution's true P99 in ~90% of windows."""
    rng = random.Random(7)
    truth = math.log(100.0)  # P99 of Exp(1)
    z = normal_quantile(0.9)
    trials, covered, plain = 200, 0, 0
    for _ in range(trials):
        sk = WindowedSketch(window=60, top=64)
        for _ in range(2000):
            sk.add(rng.expovariate(1.0), now=1.0)
        bound, est = sk.quantile(0.99, now=1.0, z=z), sk.quantile(0.99, now=1.0)
        assert bound is not None and est is not None and bound <= est
        covered += bound <= truth
        plain += est <= truth
    assert 0.83 <= covered / trials <= 0.96
    assert 0.35 <= plain / trials <= 0.7  # the plain estimate is below the truth about half of the time


def test_window_forgets_old_values() -> None:
    sk = WindowedSketch(window=50, slots=5)
    for _ in range(100):
        sk.add(10.0, now=0.0)
    for _ in range(100):
        sk.add(1.0, now=30.0)
    assert sk.quantile(0.99, now=30.0) == 10.0
    assert sk.count == 200
    q = sk.quantile(0.99, now=55.0)  # the first slot (0..10s) left the window, its top values with it
    assert sk.count == 100 and q == 1.0
    assert sk.quantile(0.5, now=200.0) is None and sk.count == 0 and sk.exact_values() == 0


def test_zero_durations_and_cache() -> None:
    sk = WindowedSketch(window=60)
    for _ in range(99):
        sk.add(0.0, now=1.0)
    sk.add(5.0, now=1.0)
    assert sk.quantile(0.99, now=1.0) == 0.0
    assert sk.quantile(1.0, now=1.0) == 5.0
    assert sk.quantile_cached(0.99, now=1.0) == 0.0
    for _ in range(50):
        sk.add(5.0, now=1.1)
    assert sk.quantile_cached(0.99, now=1.1) == 5.0


def test_normal_quantile() -> None:
    assert abs(normal_quantile(0.5)) < 1e-9
    assert abs(normal_quantile(0.975) - 1.959964) < 1e-5


@settings(max_examples=150, deadline=None)
@given(values_st, st.floats(min_value=1e-6, max_value=1e4), st.integers(min_value=1, max_value=5))
def test_count_at_least_is_exact_or_none(values: list[float], v: float, slots: int) -> None:
    sk = WindowedSketch(window=60, slots=slots, top=16)
    for i, x in enumerate(values):
        sk.add(x, now=i * 50 / len(values))
    got = sk.count_at_least(v, now=50)
    want = sum(1 for x in values if x >= v)
    assert got is None or got == want
    if want <= 16:  # every slot's values >= v fit in its exact top values
        assert got == want
