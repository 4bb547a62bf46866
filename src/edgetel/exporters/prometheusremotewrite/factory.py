"""Factory of the `prometheusremotewrite` exporter. its HTTP client and the translator load only when one is created."""

from __future__ import annotations

from typing import Any

from edgetel.component.factory import CreateContext, Factory
from edgetel.component.ids import Kind, Signal
from edgetel.exporters.prometheusremotewrite.config import Config


def _create(ctx: CreateContext, cfg: Config) -> Any:
    from edgetel.exporters.prometheusremotewrite.sender import create

    return create(ctx, cfg)


factory = Factory(
    type="prometheusremotewrite",
    kind=Kind.EXPORTER,
    config_type=Config,
    create=_create,
    signals=frozenset({Signal.METRICS}),
    stability="beta",
    description="Sends metrics with Prometheus remote-write 1.0 (Prometheus, Mimir, Thanos, VictoriaMetrics, Cortex).",
)
