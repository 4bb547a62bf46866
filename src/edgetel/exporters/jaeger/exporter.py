"""The Jaeger sender: one `PostSpans` call per resource of a batch.

When a call fails with a retryable error, the requests already accepted are remembered (with the translation)
so the retry sends only the rest: no duplicates in Jaeger and no second translation.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from edgetel.component.factory import CreateContext
from edgetel.exporters.jaeger.config import Config
from edgetel.exporters.jaeger.model import POST_SPANS
from edgetel.exporters.jaeger.translate import translate
from edgetel.helpers.export_outcomes import ExportOutcomes
from edgetel.helpers.exporter import ExportError, QueuedExporter, queued_exporter
from edgetel.helpers.grpc_client import GrpcClient, GrpcExportError
from edgetel.pdata import Batch, Traces
from edgetel.telemetry.selfmetrics import Registry

_MAX_PENDING = 8  # batches in retry whose progress is remembered (one per consumer task in practice)

Progress = tuple[Traces, list[tuple[bytes, int]], int]  # batch, translated requests, index of the next one


class JaegerSender:
    def __init__(self, cfg: Config, outcomes: ExportOutcomes, registry: Registry, logger: logging.Logger) -> None:
        self.client = GrpcClient(cfg, Config.default_port)
        self.outcomes = outcomes
        self.log = logger
        self._pending: OrderedDict[int, Progress] = OrderedDict()
        self._invalid = registry.counter(
            "edgetel_exporter_dropped_spans_total", "spans the exporter could not send, by reason",
            ("exporter", "reason"),
        ).labels(outcomes.exporter, "invalid_id")  # fmt: skip

    async def start(self) -> None:
        await self.client.start()

    async def send(self, batch: Batch) -> None:
        if not isinstance(batch, Traces):
            return  # the factory accepts traces only
        progress = self._pending.pop(id(batch), None)
        if progress is not None and progress[0] is batch:
            requests, first = progress[1], progress[2]
        else:
            try:
                requests, skipped = translate(batch.request)
            except (ValueError, IndexError) as e:  # only for bytes no protobuf encoder writes
                raise ExportError(f"could not translate the batch to Jaeger: {e}", retryable=False) from None
            first = 0
            if skipped:
                self._invalid.inc(skipped)
                self.log.warning(
                    "spans with an invalid trace or span id were not sent to Jaeger",
                    extra={"exporter": self.outcomes.exporter, "spans": skipped},
                )
        for i in range(first, len(requests)):
            try:
                await self.client.call(POST_SPANS, requests[i][0])
            except GrpcExportError as e:
                self.outcomes.error(e.code)
                if e.retryable:
                    self._pending[id(batch)] = (batch, requests, i)
                    while len(self._pending) > _MAX_PENDING:
                        self._pending.popitem(last=False)
                raise

    async def shutdown(self) -> None:
        self._pending.clear()
        await self.client.close()


def create(ctx: CreateContext, cfg: Config) -> QueuedExporter:
    name = str(ctx.id)
    sender = JaegerSender(cfg, ExportOutcomes(ctx.metrics, name, ctx.logger), ctx.metrics, ctx.logger)
    return queued_exporter(ctx, sender, cfg)
