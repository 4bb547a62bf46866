"""Opening a buffer directory after any kind of stop: clean, `kill -9`, power loss, or damaged files.

Reads only what it must: the ledger, the 32-byte header of each segment, and the records of the LAST segment
written after the ledger's writer position (all of that segment when the ledger is missing or does not match).
Nothing else is read, so a 1 GiB backlog opens in milliseconds; the reader checks every other record when it
gets to it. Never raises for damaged data: a bad ledger is ignored, a torn tail is cut off and counted.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from edgetel.buffer.disk import ledger as ledgers
from edgetel.buffer.disk.format import RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE
from edgetel.buffer.disk.ledger import Ledger, Position
from edgetel.buffer.disk.segment import iter_records, list_segments, read_segment_header, segment_path

_START = Position(1, SEGMENT_HEADER_SIZE, 1)


@dataclass
class Recovered:
    sizes: dict[int, int] = field(default_factory=dict)  # segment -> bytes
    first_ids: dict[int, int | None] = field(default_factory=dict)  # None: header unreadable
    reader: Position = _START
    writer: Position = _START
    writer_fd: int | None = None  # the tail segment, opened for appending; None: start a new segment
    torn: int = 0  # records cut off the tail
    problems: list[str] = field(default_factory=list)


def recover(directory: Path, max_record: int) -> Recovered:
    out = Recovered()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(directory / "ledger.json.tmp")
    led, problem = ledgers.load_all(directory)
    if problem is not None:
        out.problems.append(f"ledger ignored ({problem}): re-reading from the oldest segment")
    seqs = list_segments(directory)
    for seq in seqs:
        path = segment_path(directory, seq)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        except OSError as e:  # unreadable: keep it counted against max_size, skip its records
            out.sizes[seq] = _size(path)
            out.first_ids[seq] = None
            out.problems.append(f"segment {path.name} cannot be opened ({e}): its records are skipped")
            continue
        try:
            out.sizes[seq] = os.fstat(fd).st_size
            header = read_segment_header(fd)
        finally:
            os.close(fd)
        out.first_ids[seq] = header.first_id if header else None
        if header is None:
            out.problems.append(f"segment {path.name} has no valid header: its records are skipped")
    seqs = sorted(out.sizes)
    _recover_writer(directory, seqs, led, max_record, out)
    _recover_reader(directory, seqs, led, out)
    return out


def _recover_writer(directory: Path, seqs: list[int], led: Ledger | None, max_record: int, out: Recovered) -> None:
    known_ids = [i for i in out.first_ids.values() if i is not None]
    if led is not None:
        known_ids += [led.writer.next_id, led.reader.next_id]
    if not seqs:
        out.writer = Position(1, SEGMENT_HEADER_SIZE, max(known_ids, default=1))
        return
    last = seqs[-1]
    first_id = out.first_ids[last]
    size = out.sizes[last]
    if first_id is None:
        # The ids in the unreadable tail are unknown: jump past any it could hold (a record is >= 32 bytes).
        prev = max(known_ids, default=1)
        out.writer = Position(last + 1, SEGMENT_HEADER_SIZE, prev + size // RECORD_HEADER_SIZE + 1)
        return
    start, next_id = SEGMENT_HEADER_SIZE, first_id
    if led is not None and led.writer.segment == last and SEGMENT_HEADER_SIZE <= led.writer.offset <= size:
        start, next_id = led.writer.offset, max(led.writer.next_id, first_id)
    try:
        fd = os.open(segment_path(directory, last), os.O_RDWR)
    except OSError as e:  # e.g. made read-only: leave it to the reader, write a new segment
        out.problems.append(f"cannot reopen the newest segment for writing ({e}); starting a new one")
        next_id = max([*known_ids, first_id]) + size // RECORD_HEADER_SIZE + 1
        out.writer = Position(last + 1, SEGMENT_HEADER_SIZE, next_id)
        return
    end = start
    for record, after in iter_records(fd, start, size, max_record):
        if record is not None:
            end, next_id = after, max(next_id, record.id + 1)
    if end < size:
        out.torn += 1
        out.problems.append(f"cut {size - end} bytes of torn or corrupt data off the end of the newest segment")
        try:
            os.ftruncate(fd, end)
        except OSError as e:  # read-only or full: the reader skips them instead
            out.problems.append(f"could not truncate the newest segment: {e}")
        out.sizes[last] = end
    out.writer = Position(last, end, next_id)
    out.writer_fd = fd


def _recover_reader(directory: Path, seqs: list[int], led: Ledger | None, out: Recovered) -> None:
    w = out.writer
    if led is None:
        if seqs:
            first = seqs[0]
            reader = Position(first, SEGMENT_HEADER_SIZE, out.first_ids[first] or 0)
        else:
            reader = w
    else:
        r = led.reader
        if r.segment in out.sizes:
            reader = Position(r.segment, min(max(r.offset, SEGMENT_HEADER_SIZE), out.sizes[r.segment]), r.next_id)
        else:
            later = [s for s in seqs if s > r.segment]
            if later:
                reader = Position(later[0], SEGMENT_HEADER_SIZE, out.first_ids[later[0]] or r.next_id)
            else:
                reader = w
    if reader.segment > w.segment or (reader.segment == w.segment and reader.offset > w.offset):
        reader = w
    out.reader = reader
    for seq in seqs:
        if seq < reader.segment:  # fully acknowledged, not deleted before the stop
            with contextlib.suppress(OSError):
                os.unlink(segment_path(directory, seq))
            del out.sizes[seq]
            out.first_ids.pop(seq, None)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
