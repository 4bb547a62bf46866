"""Factory of the `jaeger` exporter. grpc and the Jaeger descriptors load only when one is created."""

from __future__ import annotations

from typing import Any

from edgetel.component.factory import CreateContext, Factory
from edgetel.component.ids import Kind, Signal
from edgetel.exporters.jaeger.config import Config


def _create(ctx: CreateContext, cfg: Config) -> Any:
    from edgetel.exporters.jaeger.exporter import create

    return create(ctx, cfg)


factory = Factory(
    type="jaeger",
    kind=Kind.EXPORTER,
    config_type=Config,
    create=_create,
    signals=frozenset({Signal.TRACES}),
    stability="beta",
    description="sends traces to a Jaeger collector over its native gRPC API (PostSpans, port 14250)",
)
