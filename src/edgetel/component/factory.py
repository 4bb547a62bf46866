"""What a component type provides to the agent: its config class and how to create it."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edgetel.component.ids import ComponentID, Kind, PipelineID, Signal

if TYPE_CHECKING:
    from edgetel.component.lifecycle import Lifecycle
    from edgetel.component.protocols import Component, Consumer
    from edgetel.pipeline.sockets import SocketPool
    from edgetel.telemetry.selfmetrics import Registry


@dataclass
class CreateContext:
    """Everything a component gets from the agent when it is created."""

    id: ComponentID
    kind: Kind
    logger: logging.Logger
    metrics: Registry
    sockets: SocketPool
    lifecycle: Lifecycle
    pipeline: PipelineID | None = None
    # Per component id, kept by the agent across reloads (e.g. the StatsD aggregator's cumulative state).
    state: dict[str, Any] = field(default_factory=dict)


# create(ctx, config) for exporters; create(ctx, config, next) for processors;
# create(ctx, config, consumers_by_signal) for receivers and connectors.
CreateExporter = Callable[[CreateContext, Any], "Component"]
CreateProcessor = Callable[[CreateContext, Any, "Consumer"], "Component"]
CreateReceiver = Callable[[CreateContext, Any, Mapping[Signal, "Consumer"]], "Component"]


@dataclass(frozen=True)
class Factory:
    type: str
    kind: Kind
    config_type: builtins.type[Any]
    create: Callable[..., Component]
    signals: frozenset[Signal]
    stability: str = "alpha"
    # For connectors: the signal they consume (as an exporter) and the signals they emit (as a receiver).
    emits: frozenset[Signal] = frozenset()
    description: str = ""
