"""The ledger: where reading resumes (the first unacknowledged record) and where the writer was.

`ledger.json` is a small JSON file with its own CRC, replaced atomically (temporary file, fsync, rename, fsync
of the directory) at every sync interval, in a worker thread. Between two syncs every advance of the reader
position is also appended to `acks.log` (32-byte entries with a CRC, one `pwrite` into the page cache, no
fsync): a process crash keeps the page cache, so after a `kill -9` acknowledged records are not sent again.
The journal is emptied after each ledger save. On open the furthest valid position of the two wins.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

LEDGER = "ledger.json"
_TMP = "ledger.json.tmp"
JOURNAL = "acks.log"
_ENTRY = struct.Struct("<QQQ")
ENTRY_SIZE = _ENTRY.size + 8  # + crc u32 + 4 bytes padding


class LedgerError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Position:
    segment: int
    offset: int
    next_id: int


@dataclass(frozen=True, slots=True)
class Ledger:
    reader: Position  # the first record not yet acknowledged
    writer: Position  # just after the last record written when this was saved


def encode(ledger: Ledger) -> bytes:
    body = json.dumps({"version": 1, "reader": asdict(ledger.reader), "writer": asdict(ledger.writer)},
                      sort_keys=True, separators=(",", ":"))  # fmt: skip
    return json.dumps({"ledger": body, "crc": zlib.crc32(body.encode())}).encode() + b"\n"


def decode(data: bytes) -> Ledger:
    try:
        outer = json.loads(data)
        body = outer["ledger"]
        if zlib.crc32(body.encode()) != outer["crc"]:
            raise LedgerError("ledger checksum mismatch")
        inner = json.loads(body)
        if inner.get("version") != 1:
            raise LedgerError(f"unsupported ledger version {inner.get('version')!r}")
        positions = []
        for key in ("reader", "writer"):
            p = inner[key]
            values = [p["segment"], p["offset"], p["next_id"]]
            if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
                raise LedgerError(f"invalid {key} position")
            positions.append(Position(*values))
        return Ledger(positions[0], positions[1])
    except LedgerError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise LedgerError(f"unreadable ledger: {e}") from None


def load(directory: Path) -> Ledger | None:
    """The saved ledger; None when there is none. Raises LedgerError when it is corrupt."""
    try:
        data = (directory / LEDGER).read_bytes()
    except FileNotFoundError:
        return None
    return decode(data)


def save(directory: Path, ledger: Ledger, durable: bool = False) -> None:
    tmp = directory / _TMP
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        os.write(fd, encode(ledger))
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, directory / LEDGER)
    if durable:
        fsync_directory(directory)


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _entry(pos: Position) -> bytes:
    body = _ENTRY.pack(pos.segment, pos.offset, pos.next_id)
    return body + struct.pack("<II", zlib.crc32(body), 0)


class AckJournal:
    """`acks.log`: reader positions appended between two ledger saves (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self._fd = os.open(directory / JOURNAL, os.O_RDWR | os.O_CREAT, 0o640)
        self._offset = os.fstat(self._fd).st_size // ENTRY_SIZE * ENTRY_SIZE

    def append(self, pos: Position) -> None:
        os.pwrite(self._fd, _entry(pos), self._offset)
        self._offset += ENTRY_SIZE

    def reset(self, pos: Position | None) -> None:
        """After a ledger save: keep only `pos` (the position now, if it moved past the saved one)."""
        self._offset = 0
        if pos is not None:
            self.append(pos)  # written before the truncation: a crash in between leaves a valid entry
        os.ftruncate(self._fd, self._offset)

    def close(self) -> None:
        os.close(self._fd)


def read_journal(directory: Path) -> Position | None:
    """The furthest valid position in `acks.log` (damaged or torn entries are ignored)."""
    try:
        data = (directory / JOURNAL).read_bytes()
    except FileNotFoundError:
        return None
    best: Position | None = None
    for at in range(0, len(data) - ENTRY_SIZE + 1, ENTRY_SIZE):
        body = data[at : at + _ENTRY.size]
        (crc,) = struct.unpack_from("<I", data, at + _ENTRY.size)
        if zlib.crc32(body) != crc:
            continue
        pos = Position(*_ENTRY.unpack(body))
        if best is None or (pos.segment, pos.offset) > (best.segment, best.offset):
            best = pos
    return best


def load_all(directory: Path) -> tuple[Ledger | None, str | None]:
    """The ledger with the journal applied, and the reason the ledger file was ignored (if it was)."""
    problem = None
    try:
        led = load(directory)
    except LedgerError as e:
        led, problem = None, str(e)
    journal = read_journal(directory)
    if journal is not None:
        if led is None:
            led = Ledger(journal, Position(0, 0, 0))  # writer unknown: the newest segment is scanned whole
        elif (journal.segment, journal.offset) > (led.reader.segment, led.reader.offset):
            led = Ledger(journal, led.writer)
    return led, problem
