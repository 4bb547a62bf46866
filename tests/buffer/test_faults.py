"""Fault injection on the file format: torn tails, flipped bits, zero-filled and garbage files, lost ledgers.

The promise: the buffer always opens, never loops, skips and counts what is damaged, and delivers the rest
in order.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
from pathlib import Path

import pytest

from edgetel.buffer.check import check_buffer
from edgetel.buffer.disk.format import RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE
from edgetel.buffer.disk.segment import list_segments, segment_path
from edgetel.telemetry.selfmetrics import Registry
from tests.buffer.support import disk, drain, numbered


def corrupt_count(reg: Registry) -> float:
    return reg.value("edgetel_buffer_corrupt_records_total", "test")


async def fill(directory: Path, n: int, pad: int = 300) -> None:
    buf = disk(directory)
    await buf.open()
    for i in range(n):
        await buf.push(numbered(i, pad=pad))
    await buf.close()


async def reopen_and_drain(directory: Path) -> tuple[list[int], Registry]:
    reg = Registry()
    buf = disk(directory, reg)
    await asyncio.wait_for(buf.open(), 5)
    got = await asyncio.wait_for(drain(buf), 20)
    # still writable and readable after recovery
    await buf.push(numbered(1_000_000))
    assert await drain(buf) == [1_000_000]
    await buf.close()
    return got, reg


async def test_truncate_at_every_offset_of_the_last_record(tmp_path: Path) -> None:
    src = tmp_path / "src"
    await fill(src, 5, pad=20)
    seg = segment_path(src, list_segments(src)[-1])
    size = seg.stat().st_size
    one = size - SEGMENT_HEADER_SIZE
    assert one % 5 == 0
    last_start = size - one // 5
    for cut in range(last_start, size):
        d = tmp_path / f"cut{cut}"
        shutil.copytree(src, d)
        os.truncate(segment_path(d, list_segments(d)[-1]), cut)
        os.unlink(d / "ledger.json")  # as if killed before the ledger was saved: scan the whole tail
        got, reg = await reopen_and_drain(d)
        assert got == [0, 1, 2, 3], cut
        assert corrupt_count(reg) == (1 if cut > last_start else 0), cut
        shutil.rmtree(d)


async def test_truncate_the_last_record_with_the_ledger_in_place(tmp_path: Path) -> None:
    await fill(tmp_path, 5, pad=20)
    seg = segment_path(tmp_path, list_segments(tmp_path)[-1])
    os.truncate(seg, seg.stat().st_size - 7)
    got, reg = await reopen_and_drain(tmp_path)
    assert got == [0, 1, 2, 3]
    assert corrupt_count(reg) == 1


@pytest.mark.parametrize("seed", range(12))
async def test_random_bit_flips_in_an_old_segment(tmp_path: Path, seed: int) -> None:
    await fill(tmp_path, 120, pad=2000)
    seqs = list_segments(tmp_path)
    assert len(seqs) >= 3
    rng = random.Random(seed)
    target = segment_path(tmp_path, seqs[1])
    data = bytearray(target.read_bytes())
    for _ in range(rng.randint(1, 3)):
        bit = rng.randrange(len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
    target.write_bytes(bytes(data))
    got, reg = await reopen_and_drain(tmp_path)
    assert got == sorted(got) and len(set(got)) == len(got)  # in order, never twice
    assert set(range(120)) - set(got), "something was damaged"
    lost = 120 - len(got)
    assert corrupt_count(reg) >= 1
    assert corrupt_count(reg) <= lost + 1
    # everything outside the damaged segment arrives
    with_damage = range(got[0], got[-1])
    assert all(i in got for i in range(120) if i not in with_damage or i < 20 or i > 100)


async def test_single_bit_flip_in_a_payload_loses_one_record(tmp_path: Path) -> None:
    await fill(tmp_path, 50)
    seqs = list_segments(tmp_path)
    target = segment_path(tmp_path, seqs[0])
    data = bytearray(target.read_bytes())
    rec = RECORD_HEADER_SIZE + len(numbered(0, pad=300).serialize())
    data[SEGMENT_HEADER_SIZE + 2 * rec + RECORD_HEADER_SIZE + 10] ^= 0x10  # inside record 2's payload
    target.write_bytes(bytes(data))
    got, reg = await reopen_and_drain(tmp_path)
    assert got == [i for i in range(50) if i != 2]
    assert corrupt_count(reg) == 1


@pytest.mark.parametrize("which", ["first", "middle", "last"])
async def test_zero_filled_segment(tmp_path: Path, which: str) -> None:
    await fill(tmp_path, 120, pad=2000)
    seqs = list_segments(tmp_path)
    seq = {"first": seqs[0], "middle": seqs[len(seqs) // 2], "last": seqs[-1]}[which]
    p = segment_path(tmp_path, seq)
    p.write_bytes(b"\0" * p.stat().st_size)
    report = check_buffer(tmp_path)
    assert not report.ok and report.corrupt_records >= 1
    got, reg = await reopen_and_drain(tmp_path)
    assert got == sorted(got) and len(got) < 120
    assert corrupt_count(reg) >= 1
    assert segment_path(tmp_path, seq).exists() is False  # the damaged file is deleted once passed


async def test_garbage_and_empty_segment_files(tmp_path: Path) -> None:
    await fill(tmp_path, 60, pad=4000)
    seqs = list_segments(tmp_path)
    segment_path(tmp_path, seqs[0]).write_bytes(random.Random(1).randbytes(50_000))
    segment_path(tmp_path, seqs[1]).write_bytes(b"")
    segment_path(tmp_path, seqs[2]).write_bytes(b"EDGEBUF")
    got, reg = await reopen_and_drain(tmp_path)
    assert got == sorted(got) and got[-1] == 59
    assert corrupt_count(reg) >= 1


@pytest.mark.parametrize("damage", ["deleted", "garbage", "empty", "bad_crc"])
async def test_lost_or_damaged_ledger_resends_everything_once(tmp_path: Path, damage: str) -> None:
    await fill(tmp_path, 80, pad=2000)
    buf = disk(tmp_path)
    await buf.open()
    for _ in range(30):
        e = await buf.get()
        assert e is not None
        buf.ack(e)
    await buf.close()
    led = tmp_path / "ledger.json"
    if damage == "deleted":
        led.unlink()
    elif damage == "garbage":
        led.write_bytes(b"\x00\xffnot json")
    elif damage == "empty":
        led.write_bytes(b"")
    else:
        led.write_text(led.read_text().replace('"crc":', '"crc":1'))
    got, reg = await reopen_and_drain(tmp_path)
    # at-least-once: every record still on disk comes back (delivered segments were already deleted)
    assert got == sorted(got) and got[-1] == 79 and got[0] <= 30
    assert corrupt_count(reg) == 0


async def test_ledger_pointing_past_the_files(tmp_path: Path) -> None:
    await fill(tmp_path, 40)
    led = tmp_path / "ledger.json"
    from edgetel.buffer.disk import ledger

    old = ledger.load(tmp_path)
    assert old is not None
    ledger.save(
        tmp_path, ledger.Ledger(ledger.Position(old.reader.segment, 10**9, 5), ledger.Position(999, 10**9, 10**6))
    )
    got, _ = await reopen_and_drain(tmp_path)
    assert got == []  # the reader position is clamped; nothing is re-read
    assert led.exists()


async def test_open_never_reads_old_segments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the newest segment's tail is validated at open; the rest waits for the reader."""
    await fill(tmp_path, 300)
    from edgetel.buffer.disk import recovery

    scanned: list[int] = []
    real = recovery.iter_records

    def spy(fd: int, offset: int, end: int, max_record: int):  # type: ignore[no-untyped-def]
        scanned.append(end - offset)
        return real(fd, offset, end, max_record)

    monkeypatch.setattr(recovery, "iter_records", spy)
    buf = disk(tmp_path)
    await buf.open()
    assert scanned == [0]  # the ledger's writer position is the end of the file: nothing to validate
    await buf.close()


async def test_ack_journal_is_used_and_a_torn_entry_ignored(tmp_path: Path) -> None:
    """Acks since the last ledger save come from acks.log; a torn last entry falls back to the one before."""
    from edgetel.buffer.disk import ledger

    buf = disk(tmp_path, sync_interval=3600)  # no periodic ledger save during the test
    await buf.open()
    for i in range(20):
        await buf.push(numbered(i))
    for _ in range(7):
        e = await buf.get()
        assert e is not None
        buf.ack(e)
    # simulate kill -9: copy the files as they are now (page cache), without close()
    snap = tmp_path.parent / "snap"
    shutil.copytree(tmp_path, snap, ignore=shutil.ignore_patterns("lock"))
    await buf.close()
    journal = (snap / ledger.JOURNAL).read_bytes()
    assert len(journal) == 7 * ledger.ENTRY_SIZE
    got, _ = await reopen_and_drain(snap)
    assert got == list(range(7, 20))
    shutil.rmtree(snap)
    shutil.copytree(tmp_path, snap)
    (snap / ledger.JOURNAL).write_bytes(journal[:-5])  # torn: the 7th ack is lost, the 6th holds
    (snap / ledger.LEDGER).unlink()
    got, _ = await reopen_and_drain(snap)
    assert got == list(range(6, 20))


@pytest.mark.parametrize("where", ["middle", "tail"])
async def test_a_directory_where_a_segment_should_be(tmp_path: Path, where: str) -> None:
    await fill(tmp_path, 60, pad=4000)
    seqs = list_segments(tmp_path)
    seq = seqs[-1] + 1 if where == "tail" else seqs[1]
    p = segment_path(tmp_path, seq)
    if p.exists():
        p.unlink()
    p.mkdir()
    got, _ = await reopen_and_drain(tmp_path)
    assert got == sorted(got) and got[-1] == 59


async def test_header_of_the_segment_being_written_destroyed_while_running(tmp_path: Path) -> None:
    reg = Registry()
    buf = disk(tmp_path, reg)
    await buf.open()
    for i in range(3):
        await buf.push(numbered(i))
    seg = segment_path(tmp_path, list_segments(tmp_path)[-1])
    with open(seg, "r+b") as f:
        f.write(b"\0" * SEGMENT_HEADER_SIZE)
    assert await asyncio.wait_for(drain(buf), 5) == []  # no busy loop; the damaged records are skipped
    await buf.push(numbered(3))  # goes to a new segment
    assert await asyncio.wait_for(drain(buf), 5) == [3]
    assert corrupt_count(reg) >= 1
    await buf.close()
