"""Fan-out to several consumers: data is copied only for consumers that mutate it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from edgetel.component.protocols import Consumer
from edgetel.pdata import Batch


class Fanout:
    """Hands one batch to every consumer. Non-mutating consumers share it; each mutating one gets a copy
    (unless it is the only consumer). The first error is raised after every consumer has been tried."""

    mutates = False

    def __init__(self, consumers: Sequence[Consumer]) -> None:
        self.consumers = list(consumers)
        self._single = self.consumers[0] if len(self.consumers) == 1 else None

    async def consume(self, batch: Batch) -> None:
        if self._single is not None:
            await self._single.consume(batch)
            return
        results = await asyncio.gather(
            *(c.consume(batch.copy() if c.mutates else batch) for c in self.consumers), return_exceptions=True
        )
        for r in results:
            if isinstance(r, BaseException):
                raise r


class Chain:
    """The entry of one pipeline: its first processor (or its exporters' fan-out), with the pipeline's
    combined `mutates` flag so that a receiver's fan-out knows whether to copy."""

    def __init__(self, first: Consumer, mutates: bool) -> None:
        self.first = first
        self.mutates = mutates

    async def consume(self, batch: Batch) -> None:
        await self.first.consume(batch)
