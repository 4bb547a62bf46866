"""The disk buffer: order, acknowledgement, restart, segment deletion, size bounds and when_full."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest

from edgetel.buffer.disk import buffer as diskbuffer
from edgetel.buffer.disk.io import BufferLockedError
from edgetel.buffer.disk.registry import open_disk_buffer
from edgetel.buffer.disk.segment import list_segments
from edgetel.component.errors import PermanentError, QueueFullError
from edgetel.telemetry.selfmetrics import Registry
from tests.buffer.support import disk, drain, numbered, segment_bytes


def dropped(reg: Registry, reason: str) -> float:
    return reg.value("edgetel_buffer_dropped_records_total", "test", reason)


async def test_append_read_ack_in_order(tmp_path: Path) -> None:
    buf = disk(tmp_path)
    await buf.open()
    for i in range(200):
        await buf.push(numbered(i, pad=500))
    assert buf.records() == 200
    assert len(list_segments(tmp_path)) > 1
    assert await drain(buf) == list(range(200))
    assert buf.records() == 0
    assert len(list_segments(tmp_path)) == 1  # delivered segments deleted; only the one being written stays
    await buf.close()


async def test_restart_resumes_where_acknowledged(tmp_path: Path) -> None:
    buf = disk(tmp_path)
    await buf.open()
    for i in range(100):
        await buf.push(numbered(i, pad=300))
    got = []
    for _ in range(40):
        e = await buf.get()
        assert e is not None
        got.append(e)
    for e in got[:30]:
        buf.ack(e)  # 30..39 read but in flight at the stop
    await buf.close()
    buf = disk(tmp_path)
    await buf.open()
    assert buf.records() == 70
    assert await drain(buf) == list(range(30, 100))
    await buf.close()


async def test_out_of_order_acks_only_advance_over_a_prefix(tmp_path: Path) -> None:
    buf = disk(tmp_path)
    await buf.open()
    for i in range(5):
        await buf.push(numbered(i))
    es = [await buf.get() for _ in range(5)]
    for e in (es[1], es[2], es[4]):
        assert e is not None
        buf.ack(e)
    await buf.close()
    buf = disk(tmp_path)
    await buf.open()
    assert await drain(buf) == [0, 1, 2, 3, 4]  # at-least-once: 0 was never acknowledged
    await buf.close()


async def test_release_hands_the_record_out_again_first(tmp_path: Path) -> None:
    buf = disk(tmp_path)
    await buf.open()
    for i in range(3):
        await buf.push(numbered(i))
    e = await buf.get()
    assert e is not None
    buf.release(e)
    assert await drain(buf) == [0, 1, 2]
    await buf.close()


async def test_reader_waits_for_new_data(tmp_path: Path) -> None:
    buf = disk(tmp_path)
    await buf.open()
    waiter = asyncio.create_task(buf.get())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await buf.push(numbered(7))
    e = await asyncio.wait_for(waiter, 2)
    assert e is not None and e.id >= 1
    await buf.close()


async def test_max_size_is_never_exceeded_drop_newest(tmp_path: Path) -> None:
    reg = Registry()
    buf = disk(tmp_path, reg, max_size=1024 * 1024, segment_size=128 * 1024)
    await buf.open()
    refused = 0
    for i in range(400):
        try:
            await buf.push(numbered(i, pad=8000))
        except QueueFullError:
            refused += 1
        on_disk = segment_bytes(tmp_path)
        assert on_disk <= 1024 * 1024
        assert buf.size_bytes() == on_disk
    assert refused > 0 and dropped(reg, "full") == refused
    kept = await drain(buf)
    assert kept == list(range(400 - refused))  # the oldest are kept, the newest refused
    await buf.close()


async def test_drop_oldest_evicts_whole_segments_and_counts(tmp_path: Path) -> None:
    reg = Registry()
    buf = disk(tmp_path, reg, max_size=1024 * 1024, segment_size=128 * 1024, when_full="drop_oldest")
    await buf.open()
    for i in range(400):
        await buf.push(numbered(i, pad=8000))
        assert segment_bytes(tmp_path) <= 1024 * 1024
    kept = await drain(buf)
    assert kept[-1] == 399 and kept == list(range(kept[0], 400))  # a contiguous newest tail
    assert dropped(reg, "full") == kept[0]
    await buf.close()


async def test_block_waits_for_space_then_gives_up(tmp_path: Path) -> None:
    reg = Registry()
    buf = disk(tmp_path, reg, max_size=1024 * 1024, segment_size=128 * 1024, when_full="block", block_timeout=0.3)
    await buf.open()
    i = 0
    with pytest.raises(QueueFullError):
        while True:
            await buf.push(numbered(i, pad=8000))
            i += 1
    assert dropped(reg, "full") == 1
    # Space comes back when a whole segment is delivered: a blocked push then goes through.
    pushing = asyncio.create_task(buf.push(numbered(10_000, pad=8000)))
    await asyncio.sleep(0.05)
    assert not pushing.done()
    for _ in range(30):
        e = await buf.get()
        assert e is not None
        buf.ack(e)
    await asyncio.wait_for(pushing, 2)
    await buf.close()


async def test_too_large_record_is_refused_for_good(tmp_path: Path) -> None:
    reg = Registry()
    buf = disk(tmp_path, reg)
    await buf.open()
    with pytest.raises(PermanentError):
        await buf.push(numbered(1, pad=100_000))
    assert dropped(reg, "too_large") == 1
    await buf.close()


async def test_enospc_is_counted_and_recovers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = Registry()
    buf = disk(tmp_path, reg)
    await buf.open()
    await buf.push(numbered(0))
    real = os.pwritev
    full = True

    def pwritev(fd: int, bufs: list[bytes], off: int) -> int:
        if full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, bufs, off)

    monkeypatch.setattr(diskbuffer.os, "pwritev", pwritev)
    for i in range(1, 4):
        with pytest.raises(QueueFullError):
            await buf.push(numbered(i))
    assert dropped(reg, "enospc") == 3
    full = False
    await buf.push(numbered(4))
    assert await drain(buf) == [0, 4]
    await buf.close()


_OPEN_IN_CHILD = (
    "import asyncio, sys; from pathlib import Path; from tests.buffer.support import disk\n"
    "async def main():\n"
    "    try:\n"
    "        await disk(Path(sys.argv[1])).open()\n"
    "    except OSError as e:\n"
    "        print(type(e).__name__)\n"
    "asyncio.run(main())\n"
)


def open_in_another_process(directory: Path) -> str:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _OPEN_IN_CHILD, str(directory)], capture_output=True, text=True,
                         timeout=60, cwd=Path(__file__).parents[2], check=False)  # fmt: skip
    return out.stdout.strip() + out.stderr


async def test_a_second_process_cannot_open_the_same_directory(tmp_path: Path) -> None:
    buf = disk(tmp_path)
    await buf.open()
    assert open_in_another_process(tmp_path) == BufferLockedError.__name__
    await buf.close()


async def test_shared_across_a_reload_by_the_same_exporter(tmp_path: Path) -> None:
    from edgetel.buffer.base import BufferMetrics
    from tests.buffer.support import LOG

    kw = {"max_size": 4 * 1024 * 1024, "metrics": BufferMetrics(Registry(), "x"), "logger": LOG}
    a = await open_disk_buffer("x", tmp_path, **kw)
    b = await open_disk_buffer("x", tmp_path, **kw)
    assert a is b
    with pytest.raises(BufferLockedError):
        await open_disk_buffer("y", tmp_path, **kw)
    await a.push(numbered(1))
    await a.close()
    assert await drain(b) == [1]  # still open for the second user
    await b.close()
    c = await open_disk_buffer("x", tmp_path, **kw)
    assert c is not a
    await c.close()


async def test_metrics(tmp_path: Path) -> None:
    reg = Registry()
    buf = disk(tmp_path, reg)
    await buf.open()
    for i in range(3):
        await buf.push(numbered(i))
    await asyncio.sleep(0.02)
    assert reg.value("edgetel_buffer_records", "test") == 3
    assert reg.value("edgetel_buffer_bytes", "test") == buf.size_bytes() > 0
    assert reg.value("edgetel_buffer_oldest_record_age_seconds", "test") > 0
    text = reg.render()
    assert 'edgetel_buffer_bytes{exporter="test"}' in text
    await drain(buf)
    assert reg.value("edgetel_buffer_records", "test") == 0
    assert reg.value("edgetel_buffer_oldest_record_age_seconds", "test") == 0
    await buf.close()
    assert "edgetel_buffer_bytes{" not in reg.render()  # the gauge goes with the buffer


async def test_oldest_age_of_a_backlog_after_restart(tmp_path: Path) -> None:
    buf = disk(tmp_path)
    await buf.open()
    await buf.push(numbered(1))
    await buf.close()
    await asyncio.sleep(0.05)
    buf = disk(tmp_path)
    await buf.open()
    assert buf.oldest_age() >= 0.04
    await buf.close()
