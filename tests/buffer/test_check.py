"""`validate --check-buffers`: size, records, age and integrity, read-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgetel.buffer.check import check_buffer, check_buffers, find_buffers
from edgetel.buffer.disk.segment import list_segments, segment_path
from tests.buffer.support import disk, numbered, segment_bytes, snapshot


async def fill(directory: Path, n: int, ack: int = 0) -> None:
    buf = disk(directory)
    await buf.open()
    for i in range(n):
        await buf.push(numbered(i, pad=2000))
    for _ in range(ack):
        e = await buf.get()
        assert e is not None
        buf.ack(e)
    await buf.close()


async def test_healthy_buffer(tmp_path: Path) -> None:
    await fill(tmp_path, 100, ack=10)
    r = check_buffer(tmp_path)
    assert r.ok, r.problems
    assert r.records == 90
    assert r.bytes == segment_bytes(tmp_path)
    assert r.segments == len(list_segments(tmp_path))
    assert r.oldest_age_s is not None and r.oldest_age_s < 60
    assert "90 records" in r.line() and r.line().endswith("ok")


async def test_damaged_buffer_is_reported_and_left_alone(tmp_path: Path) -> None:
    await fill(tmp_path, 100)
    p = segment_path(tmp_path, list_segments(tmp_path)[1])
    data = bytearray(p.read_bytes())
    data[500] ^= 0xFF
    p.write_bytes(bytes(data))
    (tmp_path / "ledger.json").write_text("{")
    before = snapshot(tmp_path)
    r = check_buffer(tmp_path)
    assert not r.ok and r.corrupt_records >= 1
    assert any("ledger" in x for x in r.problems)
    assert snapshot(tmp_path) == before  # nothing repaired or locked


def test_missing_directory() -> None:
    r = check_buffer(Path("/nonexistent/edgetel/buffer"))
    assert not r.ok


async def test_find_buffers_under_the_state_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    await fill(tmp_path / "buffers" / "otlp", 3)
    await fill(tmp_path / "buffers" / "prometheusremotewrite-prod", 2)
    found = find_buffers()
    assert [p.name for p in found] == ["otlp", "prometheusremotewrite-prod"]
    assert [r.records for r in check_buffers(found)] == [3, 2]


def test_configured_buffers() -> None:
    from dataclasses import dataclass, field

    from edgetel.buffer.check import configured_buffers
    from edgetel.buffer.config import BufferSettings

    @dataclass
    class Cfg:
        buffer: BufferSettings = field(default_factory=BufferSettings)

    dirs = configured_buffers([("otlp", Cfg()), ("prometheusremotewrite/a", Cfg(BufferSettings(type="disk"))),
                               ("file", object())])  # fmt: skip
    assert [d.name for d in dirs] == ["prometheusremotewrite-a"]
