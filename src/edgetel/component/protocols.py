"""The small interfaces between components.

Every component is started once and shut down once (shutdown is safe without start). Data flows as
`edgetel.pdata` batches (thin facades over OTLP protobuf messages) through `consume`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from edgetel.pdata import Batch


@runtime_checkable
class Component(Protocol):
    async def start(self) -> None:
        """Start; return quickly (long-running work goes into background tasks)."""

    async def shutdown(self) -> None:
        """Stop and release everything; flush what is held downstream. Safe without `start`."""


class Consumer(Protocol):
    @property
    def mutates(self) -> bool:
        """True when `consume` changes the batch it is given (the fan-out then hands it a copy)."""

    async def consume(self, batch: Batch) -> None:
        """Accept a batch or raise `RetryableError` / `PermanentError` (edgetel.component.errors)."""


class Receiver(Component, Protocol):
    pass


class Processor(Component, Consumer, Protocol):
    pass


class Exporter(Component, Consumer, Protocol):
    pass
