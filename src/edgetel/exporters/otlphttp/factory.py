"""Factory of the `otlphttp` exporter. its HTTP client is imported only when one is created."""

from __future__ import annotations

from typing import Any

from edgetel.component.factory import CreateContext, Factory
from edgetel.component.ids import Kind, Signal
from edgetel.exporters.otlphttp.config import Config


def _create(ctx: CreateContext, cfg: Config) -> Any:
    from edgetel.exporters.otlphttp.exporter import create

    return create(ctx, cfg)


factory = Factory(
    type="otlphttp",
    kind=Kind.EXPORTER,
    config_type=Config,
    create=_create,
    signals=frozenset({Signal.TRACES, Signal.METRICS}),
    stability="beta",
    description="sends traces and metrics over OTLP/HTTP, protobuf or JSON (a Collector, Jaeger 1.35+, ...)",
)
