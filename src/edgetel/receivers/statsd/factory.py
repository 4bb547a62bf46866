"""Factory of the `statsd` receiver (cheap to import: the runtime loads on create)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgetel.component.factory import CreateContext, Factory
from edgetel.component.ids import Kind, Signal
from edgetel.receivers.statsd.config import StatsdConfig


def create(ctx: CreateContext, cfg: StatsdConfig, consumers: Mapping[Signal, Any]) -> Any:
    from edgetel.receivers.statsd.receiver import StatsdReceiver

    return StatsdReceiver(ctx, cfg, consumers)


factory = Factory(
    type="statsd",
    kind=Kind.RECEIVER,
    config_type=StatsdConfig,
    create=create,
    signals=frozenset({Signal.METRICS}),
    stability="beta",
    description="StatsD / DogStatsD over UDP, TCP and a Unix datagram socket, aggregated into cumulative OTLP metrics",
)
