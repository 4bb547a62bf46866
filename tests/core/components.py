"""Two small real components for exercising the pipeline machinery in-process: a receiver that pushes
batches it is handed, and an exporter that keeps what it receives (and can be told to refuse)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edgetel.component.errors import ConsumeError, QueueFullError
from edgetel.component.factory import CreateContext, Factory
from edgetel.component.ids import Kind, Signal
from edgetel.component.protocols import Component, Consumer
from edgetel.config.types import Secret
from edgetel.pdata import Batch

RECEIVERS: dict[str, PushReceiver] = {}
EXPORTERS: dict[str, CollectExporter] = {}


@dataclass
class PushConfig:
    tag: str = ""
    token: Secret | None = None


class PushReceiver:
    def __init__(self, ctx: CreateContext, cfg: PushConfig, consumers: Mapping[Signal, Consumer]) -> None:
        self.id = str(ctx.id)
        self.consumers = consumers
        self.started = False
        self.stopped = False

    async def start(self) -> None:
        self.started = True
        RECEIVERS[self.id] = self

    async def push(self, batch: Batch) -> None:
        await self.consumers[batch.signal].consume(batch)

    async def shutdown(self) -> None:
        self.stopped = True


@dataclass
class CollectConfig:
    refuse: bool = False


class CollectExporter:
    mutates = False

    def __init__(self, ctx: CreateContext, cfg: CollectConfig) -> None:
        self.id = str(ctx.id)
        self.cfg = cfg
        self.batches: list[Batch] = []
        self.started = False
        self.stopped = False
        self.refuse_with: ConsumeError | None = QueueFullError("collect") if cfg.refuse else None

    async def start(self) -> None:
        self.started = True
        EXPORTERS[self.id] = self

    async def consume(self, batch: Batch) -> None:
        if self.refuse_with is not None:
            raise self.refuse_with
        self.batches.append(batch)

    async def shutdown(self) -> None:
        self.stopped = True


def _create_receiver(ctx: CreateContext, cfg: PushConfig, consumers: Mapping[Signal, Consumer]) -> Component:
    return PushReceiver(ctx, cfg, consumers)


def _create_exporter(ctx: CreateContext, cfg: CollectConfig) -> Component:
    return CollectExporter(ctx, cfg)


BOTH = frozenset({Signal.TRACES, Signal.METRICS})
push_factory = Factory("push", Kind.RECEIVER, PushConfig, _create_receiver, BOTH, "test")
collect_factory = Factory("collect", Kind.EXPORTER, CollectConfig, _create_exporter, BOTH, "test")
