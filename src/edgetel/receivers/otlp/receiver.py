"""The otlp receiver component: a gRPC server and/or an HTTP server feeding the pipeline."""

from __future__ import annotations

from collections.abc import Mapping

from edgetel.component.factory import CreateContext
from edgetel.component.ids import Signal
from edgetel.component.protocols import Consumer
from edgetel.receivers.otlp.common import Telemetry
from edgetel.receivers.otlp.config import OTLPConfig
from edgetel.receivers.otlp.grpc_server import GRPCServer
from edgetel.receivers.otlp.http_server import HTTPServer


class OTLPReceiver:
    def __init__(self, ctx: CreateContext, cfg: OTLPConfig, consumers: Mapping[Signal, Consumer]) -> None:
        name = str(ctx.id)
        consumers = {s: c for s, c in consumers.items() if s in (Signal.TRACES, Signal.METRICS)}
        self.grpc: GRPCServer | None = None
        self.http: HTTPServer | None = None
        if cfg.protocols.grpc.enabled:
            tel = Telemetry(ctx.metrics, name, "grpc")
            self.grpc = GRPCServer(cfg.protocols.grpc, consumers, tel, ctx.logger, ctx.lifecycle)
        if cfg.protocols.http.enabled:
            tel = Telemetry(ctx.metrics, name, "http")
            self.http = HTTPServer(cfg.protocols.http, consumers, tel, ctx.logger, ctx.sockets, ctx.lifecycle)

    async def start(self) -> None:
        try:
            if self.grpc is not None:
                await self.grpc.start()
            if self.http is not None:
                await self.http.start()
        except BaseException:
            await self.shutdown()
            raise

    async def shutdown(self) -> None:
        if self.http is not None:
            await self.http.shutdown()
        if self.grpc is not None:
            await self.grpc.shutdown()
