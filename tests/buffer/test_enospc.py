"""A really full disk: a 1 MiB tmpfs (needs root to mount; otherwise the injected ENOSPC test in test_disk)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgetel.component.errors import QueueFullError
from edgetel.telemetry.selfmetrics import Registry
from tests.buffer.support import disk, drain, numbered
from tests.helpers import IN_CI


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True, text=True, check=False)  # fmt: skip
    if r.returncode != 0:
        if IN_CI:
            pytest.fail(f"cannot mount a tmpfs: {r.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


async def test_full_disk_drops_new_data_counts_and_recovers(small_fs: Path) -> None:
    reg = Registry()
    d = small_fs / "buf"
    buf = disk(d, reg, max_size=64 * 1024 * 1024, segment_size=128 * 1024)
    await buf.open()
    accepted = 0
    refused = 0
    for i in range(200):
        try:
            await buf.push(numbered(i, pad=8000))
            accepted += 1
        except QueueFullError:
            refused += 1
    assert refused > 0 and accepted > 50
    assert reg.value("edgetel_buffer_dropped_records_total", "test", "enospc") == refused
    got = await drain(buf)
    assert got == list(range(accepted))  # what was accepted is intact, in order
    # Delivered segments were deleted: space is back and new data is accepted again.
    for i in range(1000, 1040):
        await buf.push(numbered(i, pad=8000))
    assert await drain(buf) == list(range(1000, 1040))
    await buf.close()
    # and it reopens fine after all that
    buf = disk(d, Registry(), max_size=64 * 1024 * 1024, segment_size=128 * 1024)
    await buf.open()
    assert await drain(buf) == []
    await buf.close()
