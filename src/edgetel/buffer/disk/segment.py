"""Segment files: naming, listing, headers, and reading records back with corruption skipping."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from edgetel.buffer.disk.format import (
    RECORD_HEADER_SIZE,
    SEGMENT_HEADER_SIZE,
    FormatError,
    Record,
    SegmentHeader,
    check_record,
    decode_record_header,
    decode_segment_header,
)

_NAME = re.compile(r"^data-(\d{10})\.seg$")


def segment_path(directory: Path, seq: int) -> Path:
    return directory / f"data-{seq:010d}.seg"


def list_segments(directory: Path) -> list[int]:
    """Sequence numbers of the segment files in `directory`, oldest first (other files are ignored)."""
    out = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    for name in names:
        m = _NAME.match(name)
        if m:
            out.append(int(m.group(1)))
    return sorted(out)


def read_segment_header(fd: int) -> SegmentHeader | None:
    """The segment's header, or None when it is missing or corrupt."""
    try:
        return decode_segment_header(os.pread(fd, SEGMENT_HEADER_SIZE, 0))
    except (FormatError, OSError):
        return None


def iter_records(fd: int, offset: int, end: int, max_record: int) -> Iterator[tuple[Record | None, int]]:
    """Records between `offset` and `end`, each with the offset just after it.

    A bad record yields `(None, next_offset)`. After one bad record whose length looks sane the next one is
    tried; a second bad record in a row, or an impossible length, skips to `end` (the rest of the segment
    cannot be framed). The offset always moves forward, so a corrupt file can never make a reader loop.
    """
    failures = 0
    while offset < end:
        if end - offset < RECORD_HEADER_SIZE:
            yield None, end
            return
        header_bytes = os.pread(fd, RECORD_HEADER_SIZE, offset)
        header = decode_record_header(header_bytes) if len(header_bytes) == RECORD_HEADER_SIZE else None
        if header is None or header.length > max_record or offset + header.size > end:
            yield None, end
            return
        payload = os.pread(fd, header.length, offset + RECORD_HEADER_SIZE)
        try:
            record = check_record(header_bytes, header, payload)
        except FormatError:
            failures += 1
            if failures >= 2:
                yield None, end
                return
            offset += header.size
            yield None, offset
            continue
        failures = 0
        offset += header.size
        yield record, offset
