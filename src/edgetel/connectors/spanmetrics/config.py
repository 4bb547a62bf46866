"""Settings of the spanmetrics connector: the OpenTelemetry Collector's keys (duration in seconds by default)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

from edgetel.config.types import Duration

_DEFAULT_BUCKETS = (0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.4, 2.0, 5.0, 10.0, 15.0)
Temporality = Literal["AGGREGATION_TEMPORALITY_CUMULATIVE", "AGGREGATION_TEMPORALITY_DELTA"]
CUMULATIVE: Temporality = "AGGREGATION_TEMPORALITY_CUMULATIVE"
DELTA: Temporality = "AGGREGATION_TEMPORALITY_DELTA"


@dataclass
class ExplicitCfg:
    buckets: list[Duration] = field(default_factory=lambda: [Duration(b) for b in _DEFAULT_BUCKETS])


@dataclass
class HistogramCfg:
    disable: bool = False
    # The Collector's default is ms; edgetel emits seconds unless told otherwise (Prometheus base unit).
    unit: Literal["s", "ms"] = "s"
    explicit: ExplicitCfg = field(default_factory=ExplicitCfg)


@dataclass
class DimensionCfg:
    name: str = ""
    # Used when neither the span nor its resource has the attribute; unset: the dimension is left out.
    default: str | None = None


@dataclass
class SpanMetricsConfig:
    namespace: str = "traces.span.metrics"
    histogram: HistogramCfg = field(default_factory=HistogramCfg)
    dimensions: list[DimensionCfg] = field(default_factory=list)
    exclude_dimensions: list[str] = field(default_factory=list)
    # Collector key (deprecated there); with edgetel it is an alias of aggregation_cardinality_limit when set.
    dimensions_cache_size: int = 0
    # Series beyond this share one overflow series (`otel.metric.overflow: true`); the spans are counted.
    aggregation_cardinality_limit: int = 2000
    aggregation_temporality: Literal["AGGREGATION_TEMPORALITY_CUMULATIVE", "AGGREGATION_TEMPORALITY_DELTA"] = CUMULATIVE
    metrics_flush_interval: Duration = field(default_factory=lambda: Duration(60.0))

    def validate(self) -> Iterator[tuple[str, str]]:
        b = [float(x) for x in self.histogram.explicit.buckets]
        if any(y <= x for x, y in pairwise(b)):
            yield "histogram.explicit.buckets", "must be strictly increasing"
        for i, d in enumerate(self.dimensions):
            if not d.name:
                yield f"dimensions.{i}.name", "required"
        if self.metrics_flush_interval <= 0:
            yield "metrics_flush_interval", "must be greater than 0"
        if self.aggregation_cardinality_limit < 0 or self.dimensions_cache_size < 0:
            yield "aggregation_cardinality_limit", "cannot be negative"

    @property
    def cardinality_limit(self) -> int:
        """0: unlimited."""
        return self.dimensions_cache_size or self.aggregation_cardinality_limit
