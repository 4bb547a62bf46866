"""The OTLP/HTTP receiver's own CPU per request: 100-span protobuf requests from a separate process.

    .venv/bin/python benchmarks/otlp_http_receiver.py [--requests 3000] [--server-module PATH]

A server process runs the otlp receiver (HTTP only) in-process with a consumer that drops what it gets, so the
figure is the HTTP server + protobuf parse + receiver bookkeeping. A client process (http.client, stdlib) sends
pre-serialized ExportTraceServiceRequests of 100 spans: once on one keep-alive connection, once with a new
connection per request. Reported: the server process's CPU-seconds (user+system, psutil) per request and per span.
`--server-module` loads another http_server.py (e.g. an older implementation) in place of the current one.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import importlib.util
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPANS = 100


def make_request(spans: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    rnd = random.Random(7)
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "load-generator"
    ss = rs.scope_spans.add()
    ss.scope.name = "load-generator"
    start = 1_700_000_000_000_000_000
    for i in range(spans):
        sp = ss.spans.add(name="load-generator-span", kind=2)
        sp.trace_id = rnd.randbytes(16)
        sp.span_id = rnd.randbytes(8)
        sp.start_time_unix_nano = start + i * 1000
        sp.end_time_unix_nano = start + i * 1000 + 250_000
        sp.attributes.add(key="load_generator.span_seq_num").value.int_value = i
        sp.attributes.add(key="http.method").value.string_value = "GET"
        sp.attributes.add(key="http.route").value.string_value = "/api/v1/items/{id}"
    return bytes(req.SerializeToString())


async def run_server(module: str | None) -> None:
    import logging

    from edgetel.component.factory import CreateContext
    from edgetel.component.ids import ComponentID, Kind, Signal
    from edgetel.component.lifecycle import Lifecycle
    from edgetel.config.decode import decode
    from edgetel.config.problems import Problems
    from edgetel.pdata import Batch
    from edgetel.pipeline.sockets import SocketPool
    from edgetel.receivers.otlp.common import Telemetry
    from edgetel.receivers.otlp.config import OTLPConfig
    from edgetel.telemetry.selfmetrics import Registry

    if module:
        spec = importlib.util.spec_from_file_location("alt_http_server", module)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        server_cls = mod.HTTPServer
    else:
        from edgetel.receivers.otlp.http_server import HTTPServer as server_cls

    class Drop:
        mutates = False

        async def consume(self, batch: Batch) -> None:
            pass

    cfg = decode(OTLPConfig, {"protocols": {"http": {"endpoint": "127.0.0.1:0"}}}, Problems("bench"))
    registry = Registry()
    ctx = CreateContext(
        id=ComponentID("otlp"),
        kind=Kind.RECEIVER,
        logger=logging.getLogger("bench"),
        metrics=registry,
        sockets=SocketPool(),
        lifecycle=Lifecycle(),
    )
    http_cfg = cfg.protocols.http
    server = server_cls(
        http_cfg, {Signal.TRACES: Drop()}, Telemetry(registry, "otlp", "http"), ctx.logger, ctx.sockets, ctx.lifecycle
    )
    await server.start()
    print(server.port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # until the parent says stop
    await server.shutdown()


def post_loop(port: int, body: bytes, n: int, keepalive: bool) -> None:
    headers = {"Content-Type": "application/x-protobuf"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(n):
        if not keepalive:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/v1/traces", body, headers)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, resp.status
        if not keepalive:
            conn.close()
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--server-module", default="")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--client", nargs=3, help=argparse.SUPPRESS)  # port n keepalive
    args = ap.parse_args()
    if args.serve:
        asyncio.run(run_server(args.server_module or None))
        return
    if args.client:
        port, n, keep = args.client
        post_loop(int(port), make_request(SPANS), int(n), keep == "1")
        return
    import psutil

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, __file__, "--serve"] + (
        ["--server-module", args.server_module] if args.server_module else []
    )
    srv = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert srv.stdout is not None and srv.stdin is not None
        port = int(srv.stdout.readline())
        proc = psutil.Process(srv.pid)
        subprocess.run([sys.executable, __file__, "--client", str(port), "50", "1"], check=True, env=env)  # warm-up
        print(f"{'mode':<26}{'requests':>9}{'CPU-us/req':>12}{'CPU-us/span':>13}{'wall s':>8}{'RSS MiB':>9}")
        for mode, keep, n in (("keep-alive", "1", args.requests), ("new connection per req", "0", args.requests // 3)):
            t0 = proc.cpu_times()
            w0 = time.monotonic()
            subprocess.run([sys.executable, __file__, "--client", str(port), str(n), keep], check=True, env=env)
            wall = time.monotonic() - w0
            t1 = proc.cpu_times()
            cpu = (t1.user - t0.user) + (t1.system - t0.system)
            rss = proc.memory_info().rss / 2**20
            print(f"{mode:<26}{n:>9}{cpu / n * 1e6:>12.0f}{cpu / n / SPANS * 1e6:>13.2f}{wall:>8.1f}{rss:>9.1f}")
        srv.stdin.write("\n")
        srv.stdin.flush()
        srv.wait(10)
    finally:
        if srv.poll() is None:
            srv.kill()


if __name__ == "__main__":
    main()
