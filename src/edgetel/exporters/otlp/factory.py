"""Factory of the `otlp` exporter (OTLP/gRPC). grpc is imported only when one is created."""

from __future__ import annotations

from typing import Any

from edgetel.component.factory import CreateContext, Factory
from edgetel.component.ids import Kind, Signal
from edgetel.exporters.otlp.config import Config


def _create(ctx: CreateContext, cfg: Config) -> Any:
    from edgetel.exporters.otlp.exporter import create

    return create(ctx, cfg)


factory = Factory(
    type="otlp",
    kind=Kind.EXPORTER,
    config_type=Config,
    create=_create,
    signals=frozenset({Signal.TRACES, Signal.METRICS}),
    stability="beta",
    description="sends traces and metrics over OTLP/gRPC (a Collector, Jaeger 1.35+, any OTLP backend)",
)
