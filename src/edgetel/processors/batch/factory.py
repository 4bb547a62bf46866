from __future__ import annotations

from edgetel.component.factory import CreateContext, Factory
from edgetel.component.ids import Kind, Signal
from edgetel.component.protocols import Component, Consumer
from edgetel.processors.batch.config import BatchConfig


def _create(ctx: CreateContext, cfg: BatchConfig, nxt: Consumer) -> Component:
    from edgetel.processors.batch.processor import BatchProcessor

    return BatchProcessor(ctx, cfg, nxt)


factory = Factory(
    type="batch",
    kind=Kind.PROCESSOR,
    config_type=BatchConfig,
    create=_create,
    signals=frozenset({Signal.TRACES, Signal.METRICS}),
    stability="beta",
    description="groups data into larger batches by size or timeout",
)
