"""A real writer process killed with SIGKILL (or stopped with SIGTERM), then the buffer reopened."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.buffer.support import disk, drain

ROOT = Path(__file__).parents[2]


def run_child(directory: Path, sync_interval: float, ack_every: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.buffer.writer_child", str(directory), str(sync_interval), str(ack_every)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def read_until(proc: subprocess.Popen[str], pushed: int, timeout: float = 30) -> tuple[int, int]:
    """Read progress lines until `pushed` records were pushed; returns (last pushed, last acked)."""
    last_pushed = last_acked = -1
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while last_pushed < pushed:
        assert time.monotonic() < deadline, "child too slow"
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "child died"
        what, n = line.split()
        if what == "pushed":
            last_pushed = int(n)
        elif what == "acked":
            last_acked = int(n)
    return last_pushed, last_acked


async def test_kill_9_loses_nothing_older_than_the_sync_interval(tmp_path: Path) -> None:
    proc = run_child(tmp_path, 0.2, ack_every=3)
    try:
        pushed_before, acked = read_until(proc, 300)
        time.sleep(0.5)  # > sync_interval: everything pushed so far has been fsynced
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.stdout is not None
        rest = proc.stdout.read()
    finally:
        proc.kill()
        proc.wait(10)
    for line in rest.split("\n"):
        if line.startswith("acked"):
            acked = int(line.split()[1])
    buf = disk(tmp_path)
    await buf.open()
    got = await drain(buf)
    await buf.close()
    # everything pushed and not acknowledged is there, in order, and nothing acknowledged comes back
    # (the child may have acknowledged one more record than it could report before the kill)
    assert acked + 1 <= got[0] <= acked + 2
    assert got == list(range(got[0], got[-1] + 1))
    assert got[-1] >= pushed_before


async def test_kill_9_mid_stream_repeatedly(tmp_path: Path) -> None:
    """Kill the writer at arbitrary moments three times: reopen always works, ids keep their order."""
    seen: list[int] = []
    for round_ in range(3):
        proc = run_child(tmp_path, 0.05, ack_every=0)
        try:
            read_until(proc, 50 + round_ * 37)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(10)
        buf = disk(tmp_path)
        await buf.open()
        got = await drain(buf)
        await buf.close()
        assert got == sorted(got)
        seen.append(len(got))
    assert all(n > 0 for n in seen)


async def test_sigterm_loses_nothing(tmp_path: Path) -> None:
    proc = run_child(tmp_path, 5.0, ack_every=4)  # a long sync interval: only the clean close makes it durable
    try:
        read_until(proc, 200)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    lines = out.split("\n")
    assert "closed" in lines
    last = max(int(x.split()[1]) for x in lines if x.startswith("pushed")) if any(
        x.startswith("pushed") for x in lines) else 200  # fmt: skip
    buf = disk(tmp_path)
    await buf.open()
    got = await drain(buf)
    await buf.close()
    assert got[-1] >= last and got == list(range(got[0], got[-1] + 1))
