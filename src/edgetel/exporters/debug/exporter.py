"""Logs a summary of every batch it receives (and the batch itself with `verbosity: detailed`)."""

from __future__ import annotations

from edgetel.component.factory import CreateContext
from edgetel.exporters.debug.config import DebugConfig
from edgetel.pdata import Batch, otlpjson
from edgetel.telemetry.components import ExporterMetrics


class DebugExporter:
    mutates = False

    def __init__(self, ctx: CreateContext, cfg: DebugConfig) -> None:
        self.cfg = cfg
        self.log = ctx.logger
        self.metrics = ExporterMetrics(ctx.metrics, str(ctx.id))

    async def start(self) -> None:
        pass

    async def consume(self, batch: Batch) -> None:
        n = batch.item_count()
        extra: dict[str, object] = {"signal": str(batch.signal), "resources": batch.resource_count(), batch.unit: n}
        if self.cfg.verbosity == "detailed":
            extra["data"] = otlpjson.encode(batch).decode()
        self.log.info("batch", extra=extra)
        self.metrics.sent(batch.unit, n)

    async def shutdown(self) -> None:
        pass
