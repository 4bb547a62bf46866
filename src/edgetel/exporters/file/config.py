"""Settings of the file exporter (the OpenTelemetry Collector's keys where it has them)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from edgetel.config.types import Duration
from edgetel.helpers.settings import BufferSettings, QueueSettings, RetrySettings, check_queue_and_buffer


@dataclass
class RotationConfig:
    max_megabytes: int = 100
    max_backups: int = 100


@dataclass
class FileConfig:
    path: str = ""
    format: Literal["json", "proto"] = "json"
    rotation: RotationConfig | None = None
    flush_interval: Duration = field(default_factory=lambda: Duration(1.0))
    sending_queue: QueueSettings = field(default_factory=lambda: QueueSettings(num_consumers=1))
    retry_on_failure: RetrySettings = field(default_factory=RetrySettings)
    buffer: BufferSettings = field(default_factory=BufferSettings)

    def validate(self) -> Iterator[tuple[str, str]]:
        if not self.path:
            yield "path", "required: the file to write"
        if self.rotation is not None:
            if self.rotation.max_megabytes < 1:
                yield "rotation.max_megabytes", "must be at least 1"
            if self.rotation.max_backups < 0:
                yield "rotation.max_backups", "cannot be negative"
        if self.sending_queue.num_consumers != 1:
            yield "sending_queue.num_consumers", "must be 1: a file is written in order"
        yield from check_queue_and_buffer(self.sending_queue, self.buffer)
