"""A big backlog opens fast without being read into memory, and drains with bounded RSS."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgetel.component.ids import Signal
from tests.buffer.support import disk, numbered

ROOT = Path(__file__).parents[2]

CHILD = r"""
import asyncio, json, sys, time
import psutil
from pathlib import Path
from tests.buffer.support import disk, number
async def main():
    p = psutil.Process()
    from edgetel.pdata import Traces
    rss0 = p.memory_info().rss
    buf = disk(Path(sys.argv[1]), max_size=2 * 1024**3, segment_size=32 * 1024**2)
    t0 = time.perf_counter()
    await buf.open()
    open_s = time.perf_counter() - t0
    rss_open = p.memory_info().rss - rss0
    records = buf.records()
    drained, peak, last = 0, rss_open, -1
    ordered = True
    limit = int(sys.argv[2])
    while buf.records() and drained < limit:
        e = await buf.get()
        n = number(e.batch)
        ordered = ordered and n == last + 1
        last = n
        buf.ack(e)
        drained += 1
        if drained % 32 == 0:
            peak = max(peak, p.memory_info().rss - rss0)
    await buf.close()
    print(json.dumps({"open_s": open_s, "rss_open": rss_open, "records": records, "drained": drained,
                      "peak": peak, "ordered": ordered}))
asyncio.run(main())
"""


async def make_backlog(directory: Path, mib: int) -> int:
    buf = disk(directory, max_size=2 * 1024**3, segment_size=32 * 1024**2, sync_interval=1.0)
    await buf.open()
    n = 0
    while buf.size_bytes() < mib * 1024 * 1024:
        payload = numbered(n, pad=256 * 1024).serialize()
        await buf.push_serialized(Signal.TRACES, 1, payload)
        n += 1
    await buf.close()
    return n


def run_child(directory: Path, drain_limit: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(directory), str(drain_limit)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, check=True)  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout)
    return result


async def test_backlog_of_96_mib_opens_without_reading_it(tmp_path: Path) -> None:
    n = await make_backlog(tmp_path, 96)
    r = run_child(tmp_path, drain_limit=100)
    assert r["records"] == n
    assert r["open_s"] < 0.5
    assert r["rss_open"] < 10 * 1024**2
    assert r["ordered"] and r["drained"] == 100
    assert r["peak"] < 40 * 1024**2


@pytest.mark.slow
async def test_backlog_of_1_gib_opens_in_under_2_s_and_drains_with_bounded_rss(tmp_path: Path) -> None:
    t0 = time.monotonic()
    n = await make_backlog(tmp_path, 1024)
    assert time.monotonic() - t0 < 120
    r = run_child(tmp_path, drain_limit=n)
    assert r["records"] == n
    assert r["open_s"] < 2.0
    assert r["rss_open"] < 50 * 1024**2
    assert r["drained"] == n and r["ordered"]
    assert r["peak"] < 50 * 1024**2
