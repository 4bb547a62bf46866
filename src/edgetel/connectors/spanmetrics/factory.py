from __future__ import annotations

from collections.abc import Mapping

from edgetel.component.factory import CreateContext, Factory
from edgetel.component.ids import Kind, Signal
from edgetel.component.protocols import Component, Consumer
from edgetel.connectors.spanmetrics.config import SpanMetricsConfig


def _create(ctx: CreateContext, cfg: SpanMetricsConfig, consumers: Mapping[Signal, Consumer]) -> Component:
    from edgetel.connectors.spanmetrics.connector import SpanMetricsConnector

    return SpanMetricsConnector(ctx, cfg, consumers)


factory = Factory(
    type="spanmetrics",
    kind=Kind.CONNECTOR,
    config_type=SpanMetricsConfig,
    create=_create,
    signals=frozenset({Signal.TRACES}),
    emits=frozenset({Signal.METRICS}),
    stability="alpha",
    description="request metrics (calls, duration histogram) from every span, before sampling",
)
