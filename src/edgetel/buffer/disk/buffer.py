"""The disk buffer: an append-only log of serialized batches in bounded segment files (see ../README.md)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import threading
import time
from collections import deque
from pathlib import Path

from edgetel.buffer.base import BufferMetrics, Entry
from edgetel.buffer.disk import ledger as ledgers
from edgetel.buffer.disk.format import (
    RECORD_HEADER_SIZE,
    SEGMENT_HEADER_SIZE,
    FormatError,
    Record,
    decode_record_header,
    encode_record_header,
    encode_segment_header,
)
from edgetel.buffer.disk.io import (
    READ_AHEAD,
    BufferLockedError,
    Slot,
    default_segment_size,
    fsync_close,
    read_some,
)
from edgetel.buffer.disk.ledger import Ledger, Position
from edgetel.buffer.disk.recovery import recover
from edgetel.buffer.disk.segment import read_segment_header, segment_path
from edgetel.component.errors import PermanentError, QueueFullError, RetryableError
from edgetel.component.ids import Signal
from edgetel.pdata import Batch, Metrics, Traces

OPEN_BUFFERS: dict[Path, DiskBuffer] = {}  # directory -> the buffer open in this process (see registry.py)


class DiskBuffer:
    kind = "disk"
    drain_on_close = False

    def __init__(
        self,
        name: str,
        directory: Path,
        *,
        max_size: int,
        when_full: str = "drop_newest",
        block_timeout: float = 5.0,
        sync_interval: float = 1.0,
        metrics: BufferMetrics,
        logger: logging.Logger,
        segment_size: int | None = None,
    ) -> None:
        self.name = name
        self.directory = directory
        self.max_size = max_size
        self.when_full = when_full
        self.block_timeout = block_timeout
        self.sync_interval = sync_interval
        self.metrics = metrics
        self.log = logger
        self.segment_size = segment_size or default_segment_size(max_size)
        self.max_record = self.segment_size - SEGMENT_HEADER_SIZE - RECORD_HEADER_SIZE
        self._lock_fd: int | None = None
        self._sizes: dict[int, int] = {}
        self._first_ids: dict[int, int | None] = {}
        self._bytes = 0
        # writer
        self._wseq, self._woff, self._wnext = 1, SEGMENT_HEADER_SIZE, 1
        self._wfd: int | None = None
        self._retired: dict[int, int] = {}  # segment -> fd no longer written to, still to fsync and close
        self._dirty = False  # data written since the last fsync
        self._force_rotate = False  # the segment being written is unreadable: start a new one
        self._changed = True  # anything (data, acks, files) changed since the last sync
        # reader: the next record to read
        self._rseq, self._roff, self._rnext = 1, SEGMENT_HEADER_SIZE, 1
        self._rfd: int | None = None
        self._rfd_seq = -1
        self._epoch = 0  # bumped when eviction moves the reader: a read in flight is then discarded
        self._pending_corrupt = False
        # acknowledgement: everything before `_ack` is delivered; `_slots` are read, in order, not yet passed
        self._ack = Position(1, SEGMENT_HEADER_SIZE, 1)
        self._slots: deque[Slot] = deque()
        self._ready: deque[Entry] = deque()  # read ahead, parsed, not handed out yet
        self._ready_bytes = 0
        self._fill_task: asyncio.Task[None] | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._data = asyncio.Event()
        self._space = asyncio.Event()
        self._journal: ledgers.AckJournal | None = None
        self._ledger_lock = threading.Lock()
        self._ledger_seq = self._ledger_written = 0
        self._closed = False
        self._opened = False
        self.refs = 0  # exporter instances using it (two, briefly, during a configuration reload)

    # -- open / close -----------------------------------------------------------------------------
    async def open(self) -> None:
        self.refs += 1
        if self._opened:
            return
        await asyncio.to_thread(self._open_files)
        self._opened = True
        self.metrics.watch(self)
        self._sync_task = asyncio.create_task(self._sync_loop(), name=f"{self.name}-buffer-sync")

    def _open_files(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o750)
        fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BufferLockedError(
                errno.EBUSY, f"buffer directory {self.directory} is in use by another process"
            ) from None
        try:
            rec = recover(self.directory, self.max_record)
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd
        for problem in rec.problems:
            self.log.warning("disk buffer damaged; recovered", extra={"exporter": self.name, "detail": problem})
        if rec.torn:
            self.metrics.corrupt(rec.torn)
        self._sizes, self._first_ids = rec.sizes, rec.first_ids
        self._bytes = sum(self._sizes.values())
        self._wseq, self._woff, self._wnext = rec.writer.segment, rec.writer.offset, rec.writer.next_id
        self._wfd = rec.writer_fd
        self._rseq, self._roff, self._rnext = rec.reader.segment, rec.reader.offset, rec.reader.next_id
        self._ack = rec.reader
        self._save_ledger(durable=True)
        self._journal = ledgers.AckJournal(self.directory)
        self._journal.reset(None)

    async def close(self) -> list[Entry]:
        """Stop reading, make everything durable (fsync data and ledger) and release the directory."""
        self.refs -= 1
        if self._closed or self.refs > 0:
            return []
        OPEN_BUFFERS.pop(self.directory, None)
        self._closed = True
        self._data.set()
        self._space.set()
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
        if self._fill_task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._fill_task
        if self._opened:
            self._dirty = self._changed = True  # a cancelled periodic sync may not have finished
            await self._sync()
            self._save_ledger(durable=True)
        if self._journal is not None:
            with contextlib.suppress(OSError):
                self._journal.reset(None)
                self._journal.close()
            self._journal = None
        for fd in (self._wfd, self._rfd, self._lock_fd, *self._retired.values()):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._wfd = self._rfd = self._lock_fd = None
        self._ready.clear()
        self._ready_bytes = 0
        self.metrics.unwatch()
        return []

    def close_reading(self) -> None:
        """Nothing to drain: what is not sent stays on disk. The exporter stops its own workers."""

    # -- writing ----------------------------------------------------------------------------------
    async def push(self, batch: Batch) -> None:
        await self.push_serialized(batch.signal, batch.item_count(), batch.serialize())

    async def push_serialized(self, signal: Signal, items: int, payload: bytes) -> None:
        """Append an already serialized Export*ServiceRequest of `signal` (parsed back with Traces/Metrics.parse)."""
        if self._closed or not self._opened:
            raise RetryableError(f"exporter {self.name}: buffer is closed", retry_after=1.0)
        size = RECORD_HEADER_SIZE + len(payload)
        if len(payload) > self.max_record:
            self.metrics.dropped("too_large")
            raise PermanentError(
                f"exporter {self.name}: a batch of {len(payload)} bytes is larger than the buffer's record limit "
                f"({self.max_record} bytes); lower the batch size"
            )
        if self._bytes + self._needed(size) > self.max_size and not await self._make_room(size):
            self.metrics.dropped("full")
            raise QueueFullError(f"exporter {self.name}")
        try:
            self._append(signal, items, payload)
        except OSError as e:
            reason = "enospc" if e.errno in (errno.ENOSPC, errno.EDQUOT) else "io_error"
            self.metrics.dropped(reason)
            self.log.error("cannot write to the disk buffer; refusing data",
                           extra={"exporter": self.name, "reason": reason, "error": str(e)})  # fmt: skip
            raise QueueFullError(f"exporter {self.name} ({reason})", retry_after=5.0) from e

    def _needed(self, size: int) -> int:
        rotate = (
            self._wfd is None
            or self._force_rotate
            or (self._woff + size > self.segment_size and self._woff > SEGMENT_HEADER_SIZE)
        )
        return size + (SEGMENT_HEADER_SIZE if rotate else 0)

    async def _make_room(self, size: int) -> bool:
        if self._bytes + self._needed(size) <= self.max_size:
            return True
        if self.when_full == "drop_oldest":
            while self._bytes + self._needed(size) > self.max_size:
                if not self._evict_oldest():
                    return False
            return True
        if self.when_full == "block":
            deadline = time.monotonic() + self.block_timeout
            while self._bytes + self._needed(size) > self.max_size and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._space.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._space.wait(), left)
            return not self._closed
        return False

    def _append(self, signal: Signal, items: int, payload: bytes) -> None:
        size = RECORD_HEADER_SIZE + len(payload)
        if self._needed(size) > size:
            self._rotate()
        assert self._wfd is not None
        header = encode_record_header(self._wnext, int(time.time() * 1000), items, signal, payload)
        written = os.pwritev(self._wfd, [header, payload], self._woff)
        if written != size:  # a short write means the disk is full; the next record overwrites the stub
            with contextlib.suppress(OSError):
                os.ftruncate(self._wfd, self._woff)
            raise OSError(errno.ENOSPC, "short write to the disk buffer")
        self._woff += size
        self._sizes[self._wseq] = self._woff
        self._bytes += size
        self._wnext += 1
        self._dirty = self._changed = True
        self._data.set()

    def _rotate(self) -> None:
        seq = self._wseq + 1 if self._wfd is not None else self._wseq
        path = segment_path(self.directory, seq)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            header = encode_segment_header(self._wnext, int(time.time() * 1000))
            if os.pwrite(fd, header, 0) != len(header):
                raise OSError(errno.ENOSPC, "short write to the disk buffer")
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        if self._wfd is not None:
            self._retired[self._wseq] = self._wfd
        self._wfd, self._wseq, self._woff = fd, seq, SEGMENT_HEADER_SIZE
        self._force_rotate = False
        self._sizes[seq] = SEGMENT_HEADER_SIZE
        self._first_ids[seq] = self._wnext
        self._bytes += SEGMENT_HEADER_SIZE
        self._dirty = self._changed = True
        self._data.set()

    def _evict_oldest(self) -> bool:
        """drop_oldest: delete the oldest segment (never the one being written). False when there is none."""
        oldest = min(self._sizes)
        if oldest >= self._wseq:
            return False
        later = [s for s in self._sizes if s > oldest]
        next_first = self._first_ids.get(min(later)) if later else None
        lost = 0  # records in it not read yet (ones already read are being sent)
        if self._rseq <= oldest:
            lost = max(0, next_first - self._rnext) if next_first is not None else 1
            self._move_reader(min(later), next_first)
            self._slots.append(Slot(0, self._rseq, SEGMENT_HEADER_SIZE, self._rnext, 0, acked=True))
        self._delete_segment(oldest)
        if lost:
            self.metrics.dropped("full", lost)
        self.log.warning("disk buffer is full; dropped its oldest segment",
                         extra={"exporter": self.name, "records": lost})  # fmt: skip
        self._advance_ack()
        return True

    # -- reading ----------------------------------------------------------------------------------
    async def get(self) -> Entry | None:
        while True:
            if self._ready:
                entry = self._ready.popleft()
                self._ready_bytes -= entry.size
                if self._ready_bytes < READ_AHEAD // 2 and not self._closed:
                    self._start_fill()  # read the next chunk while this one is being sent
                return entry
            if self._closed:
                return None
            self._start_fill()
            assert self._fill_task is not None
            # shield: a consumer cancelled while waiting must not cancel a read other consumers wait for
            try:
                await asyncio.shield(self._fill_task)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not kill the exporter's consumers: log, pause, try again
                self.log.exception("disk buffer read failed", extra={"exporter": self.name})
                await asyncio.sleep(1.0)

    def _start_fill(self) -> None:
        if self._fill_task is None or self._fill_task.done():
            self._fill_task = asyncio.create_task(self._fill(), name=f"{self.name}-buffer-read")

    async def _fill(self) -> None:
        """Read one chunk (up to READ_AHEAD bytes); with nothing ready, wait until there is data to read."""
        while not self._closed and (not self._ready or self._ready_bytes < READ_AHEAD):
            seq = self._rseq
            end = self._woff if seq == self._wseq else self._sizes.get(seq)
            if end is None or (self._roff >= end and seq < self._wseq):
                self._next_segment()
                continue
            if self._roff >= end:
                if self._ready:
                    return
                if self._pending_corrupt:  # nothing followed the damage: count it now
                    self._pending_corrupt = False
                    self.metrics.corrupt(1)
                self._data.clear()
                await self._data.wait()
                continue
            fd = self._reader_fd(seq)
            if fd is None:
                self._corruption("segment header unreadable")
                self._skip_segment()
                continue
            epoch = self._epoch
            try:
                # a dup: eviction may close the reader's fd while the thread still reads
                chunk = await asyncio.to_thread(read_some, os.dup(fd), self._roff, end, self.max_record)
            except OSError as e:
                self.log.error("cannot read the disk buffer; skipping a segment",
                               extra={"exporter": self.name, "error": str(e)})  # fmt: skip
                self._corruption("read error")
                self._skip_segment()
                continue
            if epoch != self._epoch:
                continue
            for record, after in chunk:
                self._roff = after
                if record is None:
                    self._corruption("record checksum mismatch or torn record")
                    continue
                self._take(record, seq, after)

    def _take(self, record: Record, seq: int, after: int) -> None:
        if record.id < self._rnext:  # an id going backwards is damage, not data
            self._corruption("record id out of order")
            return
        if self._pending_corrupt:
            self._pending_corrupt = False
            self.metrics.corrupt(max(1, record.id - self._rnext))
        self._rnext = record.id + 1
        slot = Slot(record.id, seq, after, record.id + 1, record.time_ms)
        self._slots.append(slot)
        try:
            batch: Batch = (Traces if record.signal == Signal.TRACES else Metrics).parse(record.payload)
        except Exception:  # checksum fine but not OTLP: written by something else; skip it
            self.metrics.corrupt(1)
            slot.acked = True
            self._advance_ack()
            return
        self._ready.append(Entry(batch, record.id, record.time_ms, slot, len(record.payload)))
        self._ready_bytes += len(record.payload)

    def _corruption(self, detail: str) -> None:
        self._pending_corrupt = True
        self.log.error("corrupt data in the disk buffer skipped",
                       extra={"exporter": self.name, "detail": detail, "segment": self._rseq})  # fmt: skip

    def _reader_fd(self, seq: int) -> int | None:
        if self._rfd_seq == seq and self._rfd is not None:
            return self._rfd
        self._close_reader_fd()
        try:
            fd = os.open(segment_path(self.directory, seq), os.O_RDONLY)
        except OSError:
            return None
        if read_segment_header(fd) is None:
            os.close(fd)
            return None
        self._rfd, self._rfd_seq = fd, seq
        return fd

    def _close_reader_fd(self) -> None:
        if self._rfd is not None:
            os.close(self._rfd)
        self._rfd, self._rfd_seq = None, -1

    def _skip_segment(self) -> None:
        """Give up on the segment being read. The one being written: skip what it holds and start a new one."""
        if self._rseq == self._wseq:
            self._roff = self._woff
            self._force_rotate = True
        else:
            self._next_segment()

    def _next_segment(self) -> None:
        later = [s for s in self._sizes if s > self._rseq]
        nxt = min(later) if later else self._wseq
        if nxt <= self._rseq:
            return
        self._move_reader(nxt, None)
        self._slots.append(Slot(0, nxt, SEGMENT_HEADER_SIZE, self._rnext, 0, acked=True))
        self._advance_ack()

    def _move_reader(self, seq: int, first_id: int | None) -> None:
        self._close_reader_fd()
        self._epoch += 1
        self._rseq, self._roff = seq, SEGMENT_HEADER_SIZE
        if first_id is not None:
            self._rnext = first_id

    # -- acknowledgement --------------------------------------------------------------------------
    def ack(self, entry: Entry) -> None:
        slot = entry.token
        assert isinstance(slot, Slot)
        slot.acked = True
        self._advance_ack()

    def release(self, entry: Entry) -> None:
        if not self._closed:
            self._ready.appendleft(entry)
            self._ready_bytes += entry.size

    def _advance_ack(self) -> None:
        moved = False
        while self._slots and self._slots[0].acked:
            s = self._slots.popleft()
            self._ack = Position(s.segment, s.end, s.next_id)
            moved = True
        if not moved:
            return
        self._changed = True
        for seq in [s for s in self._sizes if s < self._ack.segment]:
            self._delete_segment(seq)
        if self._journal is not None:
            try:
                self._journal.append(self._ack)
            except OSError as e:  # a full disk: the ledger at the next sync has it; until then a crash re-sends
                self.log.warning("cannot write the disk buffer's ack journal",
                                 extra={"exporter": self.name, "error": str(e)})  # fmt: skip

    def _delete_segment(self, seq: int) -> None:
        fd = self._retired.pop(seq, None)
        if fd is not None:  # an open fd would keep the deleted file's space in use
            os.close(fd)
        try:
            os.unlink(segment_path(self.directory, seq))
        except FileNotFoundError:
            pass
        except OSError as e:  # not ours to fix (a directory, permissions): forget it, say so
            self.log.error("cannot delete a disk buffer segment",
                           extra={"exporter": self.name, "segment": seq, "error": str(e)})  # fmt: skip
        self._bytes -= self._sizes.pop(seq, 0)
        self._first_ids.pop(seq, None)
        self._space.set()

    # -- durability -------------------------------------------------------------------------------
    def _ledger(self) -> tuple[int, Ledger]:
        """A numbered snapshot of the positions (taken in the event loop)."""
        self._ledger_seq += 1
        return self._ledger_seq, Ledger(self._ack, Position(self._wseq, self._woff, self._wnext))

    def _save_ledger(self, durable: bool = False) -> bool:
        return self._write_ledger(self._ledger(), durable)

    def _write_ledger(self, snapshot: tuple[int, Ledger], durable: bool) -> bool:
        """Save a snapshot, unless a newer one is saved already (a cancelled sync's thread may still run)."""
        seq, led = snapshot
        with self._ledger_lock:
            if seq <= self._ledger_written:
                return True
            try:
                ledgers.save(self.directory, led, durable=durable)
            except OSError as e:  # a full disk: the older ledger (and the journal) stay; at worst data is sent twice
                self.log.warning("cannot save the disk buffer ledger",
                                 extra={"exporter": self.name, "error": str(e)})  # fmt: skip
                return False
            self._ledger_written = seq
        return True

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sync_interval)
            try:
                await self._sync()
            except OSError as e:
                self.log.warning("cannot sync the disk buffer", extra={"exporter": self.name, "error": str(e)})

    async def _sync(self) -> None:
        """fsync the data written since the last sync, then the ledger that points to it."""
        if not self._changed and not self._retired:
            return  # idle: no writes at all (flash storage wears)
        self._changed = False
        fds, self._retired = list(self._retired.values()), {}
        if self._dirty and self._wfd is not None:
            fds.append(os.dup(self._wfd))
        self._dirty = False
        if fds:
            await asyncio.to_thread(fsync_close, fds)
        snapshot = self._ledger()
        if await asyncio.to_thread(self._write_ledger, snapshot, True) and self._journal is not None:
            try:
                self._journal.reset(self._ack if self._ack != snapshot[1].reader else None)
            except OSError as e:
                self.log.warning("cannot write the disk buffer's ack journal",
                                 extra={"exporter": self.name, "error": str(e)})  # fmt: skip

    # -- state ------------------------------------------------------------------------------------
    def records(self) -> int:
        return max(0, self._wnext - self._ack.next_id)

    def size_bytes(self) -> int:
        return self._bytes

    def oldest_age(self) -> float:
        t = self._oldest_time_ms()
        return 0.0 if t is None else max(0.0, time.time() - t / 1000)

    def _oldest_time_ms(self) -> int | None:
        for slot in self._slots:
            if not slot.acked and slot.time_ms:
                return slot.time_ms
        end = self._woff if self._rseq == self._wseq else self._sizes.get(self._rseq, 0)
        fd = self._reader_fd(self._rseq) if self._roff < end and not self._closed else None
        if fd is None:
            return None
        try:
            return decode_record_header(os.pread(fd, RECORD_HEADER_SIZE, self._roff)).time_ms
        except (OSError, FormatError):
            return None
