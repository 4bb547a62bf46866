"""The OTLP/gRPC sender: each batch's request bytes go out as they are (no re-encoding)."""

from __future__ import annotations

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from edgetel.component.factory import CreateContext
from edgetel.exporters.otlp.config import Config
from edgetel.helpers.export_outcomes import ExportOutcomes
from edgetel.helpers.exporter import QueuedExporter, queued_exporter
from edgetel.helpers.grpc_client import GrpcClient, GrpcExportError
from edgetel.pdata import Batch, Traces

TRACES_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
METRICS_METHOD = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"


class OTLPGrpcSender:
    def __init__(self, cfg: Config, outcomes: ExportOutcomes) -> None:
        self.client = GrpcClient(cfg, Config.default_port)
        self.outcomes = outcomes

    async def start(self) -> None:
        await self.client.start()

    async def send(self, batch: Batch) -> None:
        traces = isinstance(batch, Traces)
        try:
            response = await self.client.call(TRACES_METHOD if traces else METRICS_METHOD, batch.serialize())
        except GrpcExportError as e:
            self.outcomes.error(e.code)
            raise
        if response:  # an empty response is the common, fully accepted case
            self._partial_success(response, traces)

    def _partial_success(self, response: bytes, traces: bool) -> None:
        try:
            if traces:
                t = ExportTraceServiceResponse.FromString(response)
                rejected, message = t.partial_success.rejected_spans, t.partial_success.error_message
            else:
                m = ExportMetricsServiceResponse.FromString(response)
                rejected, message = m.partial_success.rejected_data_points, m.partial_success.error_message
        except Exception:
            return  # an unreadable response to an accepted request: the data was still accepted
        self.outcomes.partial("spans" if traces else "metric_points", int(rejected), str(message))

    async def shutdown(self) -> None:
        await self.client.close()


def create(ctx: CreateContext, cfg: Config) -> QueuedExporter:
    name = str(ctx.id)
    sender = OTLPGrpcSender(cfg, ExportOutcomes(ctx.metrics, name, ctx.logger))
    return queued_exporter(ctx, sender, cfg)
