from __future__ import annotations

from edgetel.component.factory import CreateContext, Factory
from edgetel.component.ids import Kind, Signal
from edgetel.component.protocols import Component
from edgetel.exporters.file.config import FileConfig


def _create(ctx: CreateContext, cfg: FileConfig) -> Component:
    from edgetel.exporters.file.writer import FileSender
    from edgetel.helpers.exporter import queued_exporter

    return queued_exporter(ctx, FileSender(cfg, ctx.logger), cfg)


factory = Factory(
    type="file",
    kind=Kind.EXPORTER,
    config_type=FileConfig,
    create=_create,
    signals=frozenset({Signal.TRACES, Signal.METRICS}),
    stability="beta",
    description="writes OTLP JSON lines (or length-prefixed protobuf) to a file, with rotation",
)
