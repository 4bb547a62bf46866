"""Writes each batch as one line of OTLP JSON (an Export*ServiceRequest), or as a 4-byte big-endian length
followed by the protobuf bytes (`format: proto`, as the Collector's file exporter does)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import time

from edgetel.exporters.file.config import FileConfig
from edgetel.helpers.exporter import ExportError
from edgetel.pdata import Batch, otlpjson


class FileSender:
    def __init__(self, cfg: FileConfig, logger: logging.Logger) -> None:
        self.cfg = cfg
        self.log = logger
        self._fd: int | None = None
        self._size = 0
        self._last_flush = time.monotonic()

    async def start(self) -> None:
        try:
            self._open()
        except OSError as e:
            # Not fatal: sends retry, so a directory that appears later (or space that comes back) works.
            self.log.error("cannot open the output file; will retry", extra={"path": self.cfg.path, "error": str(e)})

    def _open(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.cfg.path))
        os.makedirs(directory, exist_ok=True)
        self._fd = os.open(self.cfg.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._size = os.fstat(self._fd).st_size

    def _encode(self, batch: Batch) -> bytes:
        if self.cfg.format == "proto":
            data = batch.serialize()
            return len(data).to_bytes(4, "big") + data
        return otlpjson.encode(batch) + b"\n"

    async def send(self, batch: Batch) -> None:
        record = self._encode(batch)
        try:
            if self._fd is None:
                self._open()
            self._maybe_rotate(len(record))
            assert self._fd is not None
            # One write per record with O_APPEND: a record is never interleaved with another writer's.
            written = os.write(self._fd, record)
            if written != len(record):
                raise OSError(errno.EIO, "short write")
            self._size += written
        except OSError as e:
            retryable = e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.ENOENT, errno.EACCES)
            self._close()
            raise ExportError(f"writing {self.cfg.path}: {e.strerror or e}", retryable=retryable) from e
        if time.monotonic() - self._last_flush >= self.cfg.flush_interval:
            self._last_flush = time.monotonic()
            fd = self._fd
            await asyncio.to_thread(_fsync, fd)

    def _maybe_rotate(self, incoming: int) -> None:
        rot = self.cfg.rotation
        if rot is None or self._size == 0 or self._size + incoming <= rot.max_megabytes * 1024 * 1024:
            return
        self._close()
        path = self.cfg.path
        if rot.max_backups == 0:
            os.unlink(path)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}.{rot.max_backups}")
            for i in range(rot.max_backups - 1, 0, -1):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(f"{path}.{i}", f"{path}.{i + 1}")
            os.replace(path, f"{path}.1")
        self._open()

    def _close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    async def shutdown(self) -> None:
        if self._fd is not None:
            await asyncio.to_thread(_fsync, self._fd)
        self._close()


def _fsync(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.fsync(fd)
