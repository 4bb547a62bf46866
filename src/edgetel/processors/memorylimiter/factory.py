from __future__ import annotations

from edgetel.component.factory import CreateContext, Factory
from edgetel.component.ids import Kind, Signal
from edgetel.component.protocols import Component, Consumer
from edgetel.processors.memorylimiter.config import MemoryLimiterConfig


def _create(ctx: CreateContext, cfg: MemoryLimiterConfig, nxt: Consumer) -> Component:
    from edgetel.processors.memorylimiter.processor import MemoryLimiter

    return MemoryLimiter(ctx, cfg, nxt)


factory = Factory(
    type="memory_limiter",
    kind=Kind.PROCESSOR,
    config_type=MemoryLimiterConfig,
    create=_create,
    signals=frozenset({Signal.TRACES, Signal.METRICS}),
    stability="beta",
    description="refuses data with retry-later while the process RSS is above its soft limit",
)
