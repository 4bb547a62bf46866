from __future__ import annotations

from edgetel.component.factory import CreateContext, Factory
from edgetel.component.ids import Kind, Signal
from edgetel.component.protocols import Component
from edgetel.exporters.file.config import FileConfig


def _create(ctx: CreateContext, cfg: FileConfig) -> Component:
    from edgetel.exporters.file.writer import FileSender
    from edgetel.helpers.exporter import QueuedExporter
    from edgetel.telemetry.components import ExporterMetrics

    return QueuedExporter(
        str(ctx.id),
        FileSender(cfg, ctx.logger),
        ExporterMetrics(ctx.metrics, str(ctx.id)),
        ctx.logger,
        ctx.lifecycle,
        queue=cfg.sending_queue,
        retry=cfg.retry_on_failure,
        buffer=cfg.buffer,
        registry=ctx.metrics,
    )


factory = Factory(
    type="file",
    kind=Kind.EXPORTER,
    config_type=FileConfig,
    create=_create,
    signals=frozenset({Signal.TRACES, Signal.METRICS}),
    stability="beta",
    description="writes OTLP JSON lines (or length-prefixed protobuf) to a file, with rotation",
)
