"""The hostmetrics receiver's factory (imports only its config: the receiver loads when configured)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from edgetel.component.factory import CreateContext, Factory
from edgetel.component.ids import Kind, Signal
from edgetel.receivers.hostmetrics.config import HostMetricsConfig

if TYPE_CHECKING:
    from edgetel.component.protocols import Component, Consumer


def _create(ctx: CreateContext, cfg: HostMetricsConfig, consumers: Mapping[Signal, Consumer]) -> Component:
    from edgetel.receivers.hostmetrics.receiver import HostMetricsReceiver

    return HostMetricsReceiver(ctx, cfg, consumers)


factory = Factory(
    type="hostmetrics",
    kind=Kind.RECEIVER,
    config_type=HostMetricsConfig,
    create=_create,
    signals=frozenset({Signal.METRICS}),
    stability="beta",
    description="CPU, memory, load, disk, file system, network, paging and process metrics of the host",
)
