"""OTLP exponential histograms -> Prometheus native histograms (bucket layout only).

OTLP bucket i at scale s covers (base^i, base^(i+1)]; Prometheus bucket j at schema s covers (base^(j-1), base^j],
so j = i + 1. Scales above 8 are merged down to schema 8 (i -> i >> (scale - 8)); below -4 there is no schema.
Spans hold runs of buckets; gaps of up to two empty buckets are filled with zeros (as client_golang does).
"""

from __future__ import annotations

from collections.abc import Sequence

from edgetel.exporters.prometheusremotewrite.cumulative import downscale

MAX_SCHEMA = 8
MIN_SCHEMA = -4


def otlp_buckets(offset: int, counts: Sequence[int]) -> dict[int, int]:
    """OTLP index -> count of the non-empty buckets."""
    return {offset + i: c for i, c in enumerate(counts) if c}


def clamp_scale(scale: int, buckets: Sequence[dict[int, int]]) -> tuple[int, list[dict[int, int]]]:
    """Downscale to schema 8 when the scale is finer; the caller drops scales below -4."""
    if scale <= MAX_SCHEMA:
        return scale, list(buckets)
    return MAX_SCHEMA, [downscale(b, scale - MAX_SCHEMA) for b in buckets]


def spans_and_deltas(otlp: dict[int, int]) -> tuple[list[tuple[int, int]], list[int]]:
    """Prometheus spans (offset, length) and count deltas for OTLP buckets {index: count}."""
    spans: list[list[int]] = []
    deltas: list[int] = []
    prev_idx = 0
    prev_count = 0
    for idx, count in sorted(otlp.items()):
        if not count:
            continue
        j = idx + 1
        if not spans:
            spans.append([j, 0])
        else:
            gap = j - prev_idx - 1
            if gap > 2:
                spans.append([gap, 0])
            else:
                for _ in range(gap):
                    spans[-1][1] += 1
                    deltas.append(-prev_count)
                    prev_count = 0
        spans[-1][1] += 1
        deltas.append(count - prev_count)
        prev_count = count
        prev_idx = j
    return [(o, n) for o, n in spans], deltas
