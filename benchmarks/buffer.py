"""Disk buffer benchmark: append and replay MB/s, opening a 1 GiB backlog, RSS while draining it.

    .venv/bin/python benchmarks/buffer.py [--backlog-mib 1024] [--append-mib 256] [--dir /tmp]

Records are real serialized OTLP trace batches of 4, 16 and 64 KiB, appended with the default sync interval
(1 s: fsync runs in a thread once a second). The backlog is opened and drained in a fresh process so its RSS
is measured alone. Goals (issue #5): append >= 200 MB/s; open 1 GiB in < 2 s with < 50 MiB more RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edgetel.buffer.base import BufferMetrics
from edgetel.buffer.disk.buffer import DiskBuffer
from edgetel.pdata import Traces
from edgetel.telemetry.selfmetrics import Registry

MiB = 1024 * 1024


def batch_of(size: int) -> Traces:
    """A trace batch of about `size` serialized bytes: spans of ~500 bytes each."""
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    i = 0
    while req.ByteSize() < size:
        sp = ss.spans.add(name=f"GET /api/v1/items/{i}", kind=2, start_time_unix_nano=1, end_time_unix_nano=2)
        sp.trace_id = i.to_bytes(16, "big")
        sp.span_id = (i + 1).to_bytes(8, "big")
        for k in range(8):
            kv = sp.attributes.add(key=f"attr.{k}")
            kv.value.string_value = "v" * 40
        i += 1
    return Traces(req)


def open_buffer(directory: Path, max_size: int = 4 * 1024 * MiB) -> DiskBuffer:
    return DiskBuffer("bench", directory, max_size=max_size, sync_interval=1.0,
                      metrics=BufferMetrics(Registry(), "bench"), logger=logging.getLogger("bench"))  # fmt: skip


async def append(directory: Path, record: int, total: int, serialize: bool = True) -> tuple[float, float, int]:
    """Returns (MB/s wall, CPU s per GB, bytes). `serialize`: time batch.serialize() too (as the exporter does)."""
    batch = batch_of(record)
    payload = batch.serialize()
    n = total // len(payload)
    buf = open_buffer(directory)
    await buf.open()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        if serialize:
            await buf.push(batch)
        else:
            await buf.push_serialized(batch.signal, 1, payload)
    await buf.close()  # includes the final fsync
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    nbytes = n * len(batch.serialize())
    return nbytes / wall / 1e6, cpu / (nbytes / 1e9), nbytes


async def replay(directory: Path) -> tuple[float, float, int]:
    buf = open_buffer(directory)
    await buf.open()
    t0, c0 = time.perf_counter(), time.process_time()
    nbytes = 0
    while buf.records():
        entry = await buf.get()
        assert entry is not None
        nbytes += entry.size
        await asyncio.sleep(0)  # a sender yields to the loop: the read-ahead of the next chunk runs meanwhile
        buf.ack(entry)
    await buf.close()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return nbytes / wall / 1e6, cpu / (nbytes / 1e9), nbytes


async def backlog_child(directory: Path) -> dict[str, float]:
    """Run in a fresh process: open the backlog, then drain it while sampling RSS."""
    proc = psutil.Process()
    Traces.parse(batch_of(1000).serialize())  # load protobuf before the baseline
    rss0 = proc.memory_info().rss
    buf = open_buffer(directory)
    t0 = time.perf_counter()
    await buf.open()
    open_s = time.perf_counter() - t0
    rss_open = proc.memory_info().rss
    records = buf.records()
    peak = rss_open
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    nbytes = 0
    while buf.records():
        entry = await buf.get()
        assert entry is not None
        nbytes += entry.size
        await asyncio.sleep(0)
        buf.ack(entry)
        n += 1
        if n % 64 == 0:
            peak = max(peak, proc.memory_info().rss)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    await buf.close()
    return {"open_s": open_s, "records": records, "rss_open_mib": (rss_open - rss0) / MiB,
            "rss_drain_peak_mib": (peak - rss0) / MiB, "drain_mb_s": nbytes / wall / 1e6,
            "drain_cpu_s_per_gb": cpu / (nbytes / 1e9)}  # fmt: skip


def measure_backlog(directory: Path) -> dict[str, float]:
    subprocess.run(["sync"], check=False)
    out = subprocess.run([sys.executable, __file__, "--child", str(directory)], capture_output=True, text=True,
                         check=True)  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout)
    return result


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backlog-mib", type=int, default=1024)
    ap.add_argument("--append-mib", type=int, default=256)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(await backlog_child(Path(args.child))))
        return
    root = Path(tempfile.mkdtemp(prefix="edgetel-bench-", dir=args.dir))
    try:
        print("MB/s wall (CPU s per GB); append: bytes given serialized / batches serialized by the buffer;"
              " replay: read, checksum, parse, ack")  # fmt: skip
        print(f"{'record':>8} {'append bytes':>18} {'append batches':>18} {'replay':>18}")
        for size in (4096, 16384, 65536):
            d = root / f"r{size}"
            b_mbs, b_cpu, _ = await append(d, size, args.append_mib * MiB, serialize=False)
            shutil.rmtree(d)
            a_mbs, a_cpu, _ = await append(d, size, args.append_mib * MiB)
            r_mbs, r_cpu, _ = await replay(d)
            cells = [f"{m:.0f} ({c:.2f})" for m, c in ((b_mbs, b_cpu), (a_mbs, a_cpu), (r_mbs, r_cpu))]
            print(f"{size // 1024:>6}Ki " + " ".join(f"{c:>18}" for c in cells))
            shutil.rmtree(d)
        d = root / "backlog"
        t0 = time.perf_counter()
        await append(d, 65536, args.backlog_mib * MiB, serialize=False)
        print(f"\nbacklog of {args.backlog_mib} MiB written in {time.perf_counter() - t0:.1f} s")
        r = measure_backlog(d)
        print(f"open: {r['open_s'] * 1000:.0f} ms for {r['records']:.0f} records, RSS +{r['rss_open_mib']:.1f} MiB")
        print(f"drain: {r['drain_mb_s']:.0f} MB/s ({r['drain_cpu_s_per_gb']:.2f} CPU s/GB, parse included), "
              f"peak RSS +{r['rss_drain_peak_mib']:.1f} MiB over the baseline")  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
