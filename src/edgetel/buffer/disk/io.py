"""Pieces of the disk buffer that run in worker threads, and its small helper types."""

from __future__ import annotations

import os

from edgetel.buffer.disk.format import Record
from edgetel.buffer.disk.segment import iter_records

MAX_SEGMENT_SIZE = 32 * 1024 * 1024
MIN_SEGMENT_SIZE = 64 * 1024
READ_AHEAD = 1024 * 1024  # bytes read per trip to the reader thread


def default_segment_size(max_size: int) -> int:
    """An eighth of max_size (drop_oldest frees whole segments), within 64 KiB .. 32 MiB."""
    return max(MIN_SEGMENT_SIZE, min(MAX_SEGMENT_SIZE, max_size // 8))


class BufferLockedError(OSError):
    """Another process has this buffer directory open."""


class Slot:
    """A record read but not yet acknowledged (or a marker the ack position passes: born acked)."""

    __slots__ = ("acked", "end", "id", "next_id", "segment", "time_ms")

    def __init__(self, rid: int, segment: int, end: int, next_id: int, time_ms: int, acked: bool = False) -> None:
        self.id = rid
        self.segment = segment
        self.end = end
        self.next_id = next_id
        self.time_ms = time_ms
        self.acked = acked


def read_some(fd: int, offset: int, end: int, max_record: int) -> list[tuple[Record | None, int]]:
    """Read up to READ_AHEAD bytes of records, in a worker thread, from `fd` (a dup that this closes)."""
    out: list[tuple[Record | None, int]] = []
    size = 0
    try:
        for record, after in iter_records(fd, offset, end, max_record):
            out.append((record, after))
            size += len(record.payload) if record is not None else 0
            if size >= READ_AHEAD:
                break
    finally:
        os.close(fd)
    return out


def fsync_close(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
