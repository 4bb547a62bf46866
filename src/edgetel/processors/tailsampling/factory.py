from __future__ import annotations

from edgetel.component.factory import CreateContext, Factory
from edgetel.component.ids import Kind, Signal
from edgetel.component.protocols import Component, Consumer
from edgetel.processors.tailsampling.config import TailSamplingConfig


def _create(ctx: CreateContext, cfg: TailSamplingConfig, nxt: Consumer) -> Component:
    from edgetel.processors.tailsampling.processor import TailSamplingProcessor

    return TailSamplingProcessor(ctx, cfg, nxt)


factory = Factory(
    type="tail_sampling",
    kind=Kind.PROCESSOR,
    config_type=TailSamplingConfig,
    create=_create,
    signals=frozenset({Signal.TRACES}),
    stability="alpha",
    description="keeps whole traces by policy: errors, slow for their endpoint (learned P99), a consistent share",
)
