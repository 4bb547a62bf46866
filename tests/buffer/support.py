"""Helpers for the buffer tests: numbered batches and a disk buffer opener."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edgetel.buffer.base import BufferMetrics
from edgetel.buffer.disk.buffer import DiskBuffer
from edgetel.pdata import Batch, Traces
from edgetel.telemetry.selfmetrics import Registry

LOG = logging.getLogger("test.buffer")


def numbered(n: int, pad: int = 0) -> Traces:
    """A one-span batch whose span name is `n` (and `pad` bytes of attribute to make it bigger)."""
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add(name=str(n))
    span.trace_id = b"\x01" * 16
    span.span_id = b"\x02" * 8
    if pad:
        kv = span.attributes.add(key="pad")
        kv.value.string_value = "x" * pad
    return Traces(req)


def number(batch: Batch) -> int:
    assert isinstance(batch, Traces)
    return int(batch.request.resource_spans[0].scope_spans[0].spans[0].name)


def disk(directory: Path, registry: Registry | None = None, **kw: Any) -> DiskBuffer:
    kw.setdefault("max_size", 8 * 1024 * 1024)
    kw.setdefault("segment_size", 64 * 1024)
    kw.setdefault("sync_interval", 0.05)
    return DiskBuffer("test", directory, metrics=BufferMetrics(registry or Registry(), "test"), logger=LOG, **kw)


async def drain(buf: DiskBuffer, ack: bool = True, limit: int = 100_000) -> list[int]:
    """Read (and ack) everything currently readable."""
    import asyncio

    out = []
    for _ in range(limit):
        if ack and buf.records() == 0:
            break
        try:
            entry = await asyncio.wait_for(buf.get(), 0.2)
        except TimeoutError:
            break
        if entry is None:
            break
        out.append(number(entry.batch))
        if ack:
            buf.ack(entry)
    return out


def segment_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("*.seg"))


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}
