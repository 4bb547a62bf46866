"""`buffer`: where an exporter keeps batches until the backend acknowledges them (memory or disk)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from edgetel.config.types import Duration, Size

DEFAULT_STATE_DIRECTORY = "/var/lib/edgetel"
MIN_DISK_SIZE = 1024 * 1024


@dataclass
class BufferSettings:
    """The `buffer` section every queued exporter has."""

    type: Literal["memory", "disk"] = "memory"
    # disk only: empty means ${STATE_DIRECTORY:-/var/lib/edgetel}/buffers/<exporter id>
    directory: str = ""
    max_size: Size = field(default_factory=lambda: Size(256 * 1024**2))  # disk only
    when_full: Literal["drop_newest", "drop_oldest", "block"] = "drop_newest"
    block_timeout: Duration = field(default_factory=lambda: Duration(5.0))  # when_full: block
    sync_interval: Duration = field(default_factory=lambda: Duration(1.0))  # disk only

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.type == "disk" and self.max_size < MIN_DISK_SIZE:
            yield "max_size", "must be at least 1MiB for a disk buffer"
        if self.sync_interval <= 0:
            yield "sync_interval", "must be greater than 0"
        if self.sync_interval > 60:
            yield "sync_interval", "must be at most 1m: data newer than this is lost on a crash"
        if self.directory and not os.path.isabs(self.directory):
            yield "directory", "must be an absolute path"


def state_directory() -> Path:
    """`$STATE_DIRECTORY` (systemd's StateDirectory=, first entry) or /var/lib/edgetel."""
    env = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(env or DEFAULT_STATE_DIRECTORY)


def directory_name(exporter_id: str) -> str:
    """`type/name` -> `type-name`: a type has no `-`, so the name stays unambiguous; `/` is not allowed in a path."""
    return exporter_id.replace("/", "-").replace(os.sep, "-")


def buffer_directory(settings: BufferSettings, exporter_id: str) -> Path:
    """The directory of `exporter_id`'s disk buffer: `directory` if set, else one per exporter under the state dir."""
    if settings.directory:
        return Path(settings.directory)
    return state_directory() / "buffers" / directory_name(exporter_id)
