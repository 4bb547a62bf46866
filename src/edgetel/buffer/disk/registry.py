"""The disk buffers this process has open, shared by the old and new instance of an exporter on a reload."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from edgetel.buffer.disk.buffer import OPEN_BUFFERS, DiskBuffer
from edgetel.buffer.disk.io import BufferLockedError


def _absolute(directory: Path) -> Path:
    return Path(os.path.abspath(directory))


async def open_disk_buffer(name: str, directory: Path, **options: Any) -> DiskBuffer:
    """Open the buffer in `directory`, or share the one this process has open for the same exporter.

    On a configuration reload the new exporter instance starts before the old one stops; both use one
    DiskBuffer (the old one stops taking records and gives back what it did not send), so nothing is read twice.
    """
    directory = _absolute(directory)
    buf = OPEN_BUFFERS.get(directory)
    if buf is not None:
        if buf.name != name:
            raise BufferLockedError(errno.EBUSY, f"buffer directory {directory} is already used by exporter {buf.name}")
        for key in ("max_size", "when_full", "block_timeout", "sync_interval"):
            if key in options:
                setattr(buf, key, options[key])
        buf.refs += 1
        return buf
    buf = DiskBuffer(name, directory, **options)
    await buf.open()
    OPEN_BUFFERS[directory] = buf
    return buf
