"""`edgetel validate --check-buffers`: size, records, oldest age and integrity of disk buffer directories.

Read-only: it takes no lock and repairs nothing, so it is safe while the agent runs (a record being written
at that moment may show up as torn). Every unacknowledged record is read and its checksum verified.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from edgetel.buffer.config import BufferSettings, buffer_directory, state_directory
from edgetel.buffer.disk import ledger as ledgers
from edgetel.buffer.disk.format import SEGMENT_HEADER_SIZE
from edgetel.buffer.disk.segment import iter_records, list_segments, read_segment_header, segment_path


@dataclass
class BufferReport:
    directory: str
    bytes: int = 0
    segments: int = 0
    records: int = 0  # not yet acknowledged, with a valid checksum
    oldest_age_s: float | None = None
    corrupt_records: int = 0  # bad records and unreadable segments (each counts at least one)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        age = "-" if self.oldest_age_s is None else f"{self.oldest_age_s:.0f}s"
        state = "ok" if self.ok else "DAMAGED: " + "; ".join(self.problems)
        return (f"{self.directory}: {self.bytes} bytes in {self.segments} segments, {self.records} records, "
                f"oldest {age}, {state}")  # fmt: skip


def find_buffers(root: Path | None = None) -> list[Path]:
    """Buffer directories under `<state dir>/buffers` (those with the default location)."""
    base = (root or state_directory()) / "buffers"
    try:
        return sorted(p for p in base.iterdir() if p.is_dir())
    except FileNotFoundError:
        return []


def configured_buffers(exporters: Iterable[tuple[str, object]]) -> list[Path]:
    """The disk buffer directories of (exporter id, exporter config) pairs whose `buffer.type` is disk."""
    out = []
    for exporter_id, cfg in exporters:
        settings = getattr(cfg, "buffer", None)
        if isinstance(settings, BufferSettings) and settings.type == "disk":
            out.append(buffer_directory(settings, exporter_id))
    return out


def check_buffer(directory: Path) -> BufferReport:
    report = BufferReport(str(directory))
    if not directory.is_dir():
        report.problems.append("no such directory")
        return report
    led, problem = ledgers.load_all(directory)
    if problem is not None:
        report.problems.append(f"ledger: {problem} (the agent re-sends from the oldest segment)")
    seqs = list_segments(directory)
    report.segments = len(seqs)
    oldest_ms: int | None = None
    expected: int | None = led.reader.next_id if led else None
    for seq in seqs:
        if led is not None and seq < led.reader.segment:
            continue  # acknowledged, deleted at the next start
        path = segment_path(directory, seq)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            report.problems.append(f"{path.name}: {e}")
            continue
        try:
            size = os.fstat(fd).st_size
            report.bytes += size
            if read_segment_header(fd) is None:
                report.corrupt_records += 1
                report.problems.append(f"{path.name}: invalid segment header")
                continue
            start = SEGMENT_HEADER_SIZE
            if led is not None and seq == led.reader.segment:
                start = min(max(led.reader.offset, SEGMENT_HEADER_SIZE), size)
            bad = 0
            for record, _ in iter_records(fd, start, size, size):
                if record is None:
                    bad += 1
                    continue
                if expected is not None and record.id > expected and bad:
                    bad = max(bad, record.id - expected)
                expected = record.id + 1
                report.records += 1
                if oldest_ms is None:
                    oldest_ms = record.time_ms
            if bad:
                report.corrupt_records += bad
                report.problems.append(f"{path.name}: {bad} corrupt or torn records")
        finally:
            os.close(fd)
    if oldest_ms is not None:
        report.oldest_age_s = max(0.0, time.time() - oldest_ms / 1000)
    return report


def check_buffers(directories: Iterable[Path]) -> list[BufferReport]:
    return [check_buffer(d) for d in directories]
