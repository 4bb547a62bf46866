from __future__ import annotations

from edgetel.component.factory import CreateContext, Factory
from edgetel.component.ids import Kind, Signal
from edgetel.component.protocols import Component
from edgetel.exporters.debug.config import DebugConfig
from edgetel.exporters.debug.exporter import DebugExporter


def _create(ctx: CreateContext, cfg: DebugConfig) -> Component:
    return DebugExporter(ctx, cfg)


factory = Factory(
    type="debug",
    kind=Kind.EXPORTER,
    config_type=DebugConfig,
    create=_create,
    signals=frozenset({Signal.TRACES, Signal.METRICS}),
    stability="beta",
    description="logs a one-line summary of each batch",
)
