"""Exporter settings shared by every exporter, with the OpenTelemetry Collector's keys and defaults."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from edgetel.buffer.config import BufferSettings
from edgetel.config.types import Duration

__all__ = ["BufferSettings", "QueueSettings", "RetrySettings", "check_queue_and_buffer"]


@dataclass
class QueueSettings:
    """`sending_queue`: batches wait here while the backend is slow or down."""

    enabled: bool = True
    num_consumers: int = 2
    queue_size: int = 1000  # batches

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.num_consumers < 1:
            yield "num_consumers", "must be at least 1"
        if self.queue_size < 1:
            yield "queue_size", "must be at least 1"


@dataclass
class RetrySettings:
    """`retry_on_failure`: exponential backoff with jitter for retryable errors."""

    enabled: bool = True
    initial_interval: Duration = field(default_factory=lambda: Duration(5.0))
    randomization_factor: float = 0.5
    multiplier: float = 1.5
    max_interval: Duration = field(default_factory=lambda: Duration(30.0))
    max_elapsed_time: Duration = field(default_factory=lambda: Duration(300.0))  # 0: retry forever

    def validate(self) -> Iterator[tuple[str, str]]:
        if not 0 <= self.randomization_factor <= 1:
            yield "randomization_factor", "must be between 0 and 1"
        if self.multiplier < 1:
            yield "multiplier", "must be at least 1"
        if self.initial_interval <= 0:
            yield "initial_interval", "must be greater than 0"
        if self.max_interval < self.initial_interval:
            yield "max_interval", "must be at least initial_interval"


def check_queue_and_buffer(queue: QueueSettings, buffer: BufferSettings) -> Iterator[tuple[str, str]]:
    """Cross-checks for an exporter config with `sending_queue` and `buffer` (call from its `validate`)."""
    if buffer.type == "disk" and not queue.enabled:
        yield "sending_queue.enabled", "must be true with buffer.type disk (the buffer is the queue)"
