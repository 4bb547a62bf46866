"""Exporter buffers: where batches wait until the backend acknowledges them (see README.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from edgetel.buffer.base import Buffer, BufferMetrics, Entry
from edgetel.buffer.config import BufferSettings, buffer_directory
from edgetel.pdata import Batch
from edgetel.telemetry.selfmetrics import Registry

__all__ = ["Buffer", "BufferMetrics", "BufferSettings", "Entry", "buffer_directory", "open_buffer"]


async def open_buffer(
    settings: BufferSettings,
    *,
    name: str,
    capacity: int,
    registry: Registry,
    logger: logging.Logger,
    on_evict: Callable[[Batch], None] | None = None,
) -> Buffer:
    """Open the buffer `settings` describe for exporter `name` (`capacity`: the memory buffer's batch limit)."""
    metrics = BufferMetrics(registry, name)
    if settings.type == "disk":
        from edgetel.buffer.disk.registry import open_disk_buffer

        registry.gauge("edgetel_buffer_max_bytes", "the disk buffer's max_size", ("exporter",)).labels(name).set(
            int(settings.max_size)
        )

        return await open_disk_buffer(
            name,
            buffer_directory(settings, name),
            max_size=int(settings.max_size),
            when_full=settings.when_full,
            block_timeout=float(settings.block_timeout),
            sync_interval=float(settings.sync_interval),
            metrics=metrics,
            logger=logger,
        )
    from edgetel.buffer.memory import MemoryBuffer

    buf = MemoryBuffer(name, capacity, settings.when_full, float(settings.block_timeout), metrics, on_evict)
    await buf.open()
    return buf
