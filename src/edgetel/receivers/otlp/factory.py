from __future__ import annotations

from collections.abc import Mapping

from edgetel.component.factory import CreateContext, Factory
from edgetel.component.ids import Kind, Signal
from edgetel.component.protocols import Component, Consumer
from edgetel.receivers.otlp.config import OTLPConfig


def _create(ctx: CreateContext, cfg: OTLPConfig, consumers: Mapping[Signal, Consumer]) -> Component:
    from edgetel.receivers.otlp.receiver import OTLPReceiver

    return OTLPReceiver(ctx, cfg, consumers)


factory = Factory(
    type="otlp",
    kind=Kind.RECEIVER,
    config_type=OTLPConfig,
    create=_create,
    signals=frozenset({Signal.TRACES, Signal.METRICS}),
    stability="beta",
    description="receives OTLP traces and metrics over gRPC and HTTP (protobuf and JSON)",
)
