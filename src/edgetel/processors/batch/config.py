"""Settings of the batch processor (the OpenTelemetry Collector's keys and defaults)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from edgetel.config.types import Duration


@dataclass
class BatchConfig:
    send_batch_size: int = 8192
    send_batch_max_size: int = 0
    timeout: Duration = field(default_factory=lambda: Duration(0.2))
    # edgetel's own bound: items held while waiting for downstream before refusing with retry-later.
    max_pending_items: int = 100_000

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.send_batch_size < 0:
            yield "send_batch_size", "cannot be negative"
        if self.send_batch_max_size < 0:
            yield "send_batch_max_size", "cannot be negative"
        elif self.send_batch_max_size and self.send_batch_max_size < self.send_batch_size:
            yield "send_batch_max_size", "must be 0 (no limit) or at least send_batch_size"
        if self.max_pending_items < max(self.send_batch_size, 1):
            yield "max_pending_items", "must be at least send_batch_size"
