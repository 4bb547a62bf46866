"""DELTA -> CUMULATIVE: Prometheus only has cumulative counters and histograms, so delta points are summed.

The state lives on each series (see translate.Stream) and goes with it: when a series is marked stale or evicted
because `max_series` is reached, its sum restarts from the next delta, which Prometheus reads as a counter reset.
"""

from __future__ import annotations

from collections.abc import Sequence


class HistogramSum:
    """Running bucket counts, count and sum of a delta explicit-bucket histogram."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0

    def add(self, bounds: tuple[float, ...], counts: Sequence[int], count: int, total: float) -> bool:
        """Add one delta point; False (and the state restarts from this point) when the bounds changed."""
        same = bounds == self.bounds
        if not same:
            self.__init__(bounds)  # type: ignore[misc]
        cur = self.counts
        for i, c in enumerate(counts[: len(cur)]):
            cur[i] += c
        self.count += count
        self.sum += total
        return same


def downscale(buckets: dict[int, int], by: int) -> dict[int, int]:
    """Merge exponential-histogram buckets to a scale `by` steps lower (index i -> i >> by)."""
    if by <= 0:
        return buckets
    out: dict[int, int] = {}
    for idx, c in buckets.items():
        j = idx >> by
        out[j] = out.get(j, 0) + c
    return out


class ExpHistogramSum:
    """Running state of a delta exponential histogram, kept at the lowest scale seen (buckets by OTLP index)."""

    __slots__ = ("count", "negative", "positive", "scale", "sum", "zero_count")

    def __init__(self, scale: int) -> None:
        self.scale = scale
        self.count = 0
        self.sum = 0.0
        self.zero_count = 0
        self.positive: dict[int, int] = {}
        self.negative: dict[int, int] = {}

    def add(
        self, scale: int, count: int, total: float, zero_count: int, positive: dict[int, int], negative: dict[int, int]
    ) -> None:
        if scale < self.scale:
            self.positive = downscale(self.positive, self.scale - scale)
            self.negative = downscale(self.negative, self.scale - scale)
            self.scale = scale
        elif scale > self.scale:
            positive = downscale(positive, scale - self.scale)
            negative = downscale(negative, scale - self.scale)
        for mine, theirs in ((self.positive, positive), (self.negative, negative)):
            for idx, c in theirs.items():
                mine[idx] = mine.get(idx, 0) + c
        self.count += count
        self.sum += total
        self.zero_count += zero_count
