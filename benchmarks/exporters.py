"""CPU cost of the otlp, otlphttp and jaeger exporters, per span, with the backend in another process.

    .venv/bin/python benchmarks/exporters.py [--batches 100] [--spans 512]

The backends are the test servers (tests/support) in a child process, so only the exporter's own work
(queue, encoding, compression, gRPC / HTTP client) is measured: process CPU time (user+system) of this
process while it pushes `--batches` batches of `--spans` spans (10 attributes, 1 event each) through each
exporter and waits until the backend has them all.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))


def backend(conn: Any) -> None:
    """Child process: the OTLP (gRPC + HTTP) and Jaeger test servers; answers span counts on request."""
    from tests.support.jaeger_server import JaegerServer
    from tests.support.otlp_server import OTLPServer

    async def main() -> None:
        async with OTLPServer() as otlp, JaegerServer() as jaeger:
            conn.send((otlp.endpoint, otlp.http_endpoint, jaeger.endpoint))
            loop = asyncio.get_running_loop()
            while True:
                cmd = await loop.run_in_executor(None, conn.recv)
                if cmd == "stop":
                    return
                # keep the child's memory flat between runs
                otlp.received.clear()
                otlp.attempts.clear()
                jaeger.received.clear()
                jaeger.attempts.clear()
                conn.send("cleared")

    asyncio.run(main())


async def run_one(type_name: str, raw: dict[str, Any], traces: Any, batches: int) -> float:
    from tests.support.component_testing import build_exporter

    built = build_exporter(type_name, {**raw, "sending_queue": {"queue_size": batches + 10}})
    await built.exporter.start()
    total = traces.item_count() * batches
    t0 = time.process_time()
    for _ in range(batches):
        await built.exporter.consume(traces)
    while built.value("edgetel_exporter_sent_spans_total") < total:
        if built.value("edgetel_exporter_send_failed_spans_total"):
            raise RuntimeError(f"{type_name}: sends failed")
        await asyncio.sleep(0.005)
    cpu = time.process_time() - t0
    await built.shutdown()
    return cpu / total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--spans", type=int, default=512)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from jaeger_translate import request  # the same spans as the translation benchmark

    from edgetel.pdata import Traces

    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=backend, args=(child,), daemon=True)
    proc.start()
    grpc_ep, http_ep, jaeger_ep = parent.recv()
    traces = Traces(request(args.spans))
    cases = [
        ("otlp", "gzip", {"endpoint": grpc_ep, "tls": {"insecure": True}, "compression": "gzip"}),
        ("otlp", "none", {"endpoint": grpc_ep, "tls": {"insecure": True}, "compression": "none"}),
        ("otlphttp", "proto gzip", {"endpoint": http_ep}),
        ("otlphttp", "proto none", {"endpoint": http_ep, "compression": "none"}),
        ("otlphttp", "json gzip", {"endpoint": http_ep, "encoding": "json"}),
        ("jaeger", "none", {"endpoint": jaeger_ep, "tls": {"insecure": True}}),
    ]
    print(f"{os.cpu_count()} CPUs; {args.batches} batches x {args.spans} spans per case")
    print(f"{'exporter':>9} {'variant':>11} {'us/span (CPU)':>14} {'spans/CPU-s':>12}")
    for type_name, variant, raw in cases:
        per_span = asyncio.run(run_one(type_name, raw, traces, args.batches))
        parent.send("clear")
        parent.recv()
        print(f"{type_name:>9} {variant:>11} {per_span * 1e6:>14.2f} {1 / per_span:>12,.0f}")
    parent.send("stop")
    proc.join(10)


if __name__ == "__main__":
    main()
