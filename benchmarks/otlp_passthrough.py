"""OTLP/gRPC in -> batch -> OTLP/gRPC out, no sampling: edgetel's CPU and memory, three processes.

    .venv/bin/python benchmarks/otlp_passthrough.py [--quick] [--compression gzip|none|both] [--per-request 100 512]

- a sink: a grpc.aio OTLP TraceService that counts the spans it gets (its own process);
- edgetel: `edgetel run --config` (otlp receiver -> batch -> otlp exporter to the sink);
- a load generator (its own process): pre-serialized ExportTraceServiceRequests of 100 spans (the Collector's
  load test) and of 512 spans (the SDK's default export batch) on a raw grpc channel, paced to a target rate,
  up to 512 requests in flight.

Reported: edgetel's CPU (user+system of the process, psutil) as % of one core and CPU-microseconds per span, its
RSS, at 10,000 spans/s (the Collector's published figure for this test: 6.2% of one core, 55 MiB); then a ramp
to the highest rate that is delivered completely with no refusal (UNAVAILABLE) while edgetel stays under one core.
`spans/cpu-s` is the rate divided by edgetel's CPU share: what one fully used core would carry. On a small shared
machine the load generator (Python) may be the limit: `late s` > 0 means it fell behind its schedule.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
COUNT = "/bench.Sink/Count"
SPANS_PER_REQUEST = 100


# ---------------------------------------------------------------- sink (own process)


async def run_sink() -> None:
    import grpc
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    total = {"spans": 0, "requests": 0}

    async def export(request: bytes, context: Any) -> bytes:
        req = ExportTraceServiceRequest()
        req.ParseFromString(request)
        total["spans"] += sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
        total["requests"] += 1
        return b""

    async def count(request: bytes, context: Any) -> bytes:
        return json.dumps(total).encode()

    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 256 << 20)])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "opentelemetry.proto.collector.trace.v1.TraceService",
                {"Export": grpc.unary_unary_rpc_method_handler(export)},
            ),
            grpc.method_handlers_generic_handler("bench.Sink", {"Count": grpc.unary_unary_rpc_method_handler(count)}),
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


# ---------------------------------------------------------------- load generator (own process)


def make_request(spans: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    rnd = random.Random(7)
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for key, value in (("service.name", "load-generator"), ("host.name", "edge-01")):
        rs.resource.attributes.add(key=key).value.string_value = value
    ss = rs.scope_spans.add()
    ss.scope.name = "load-generator"
    ss.scope.version = "1.0"
    start = 1_700_000_000_000_000_000
    for i in range(spans):
        sp = ss.spans.add(name="load-generator-span", kind=2 if i % 2 else 3)
        sp.trace_id = rnd.randbytes(16)
        sp.span_id = rnd.randbytes(8)
        sp.parent_span_id = rnd.randbytes(8)
        sp.start_time_unix_nano = start + i * 1000
        sp.end_time_unix_nano = start + i * 1000 + 250_000
        sp.attributes.add(key="load_generator.span_seq_num").value.int_value = i
        sp.attributes.add(key="load_generator.trace_seq_num").value.int_value = i // 10
        sp.attributes.add(key="http.method").value.string_value = "GET"
        sp.attributes.add(key="http.route").value.string_value = "/api/v1/items/{id}"
        sp.attributes.add(key="http.status_code").value.int_value = 200
        sp.status.code = 1
    return bytes(req.SerializeToString())


async def run_load(target: str, rate: float, duration: float, concurrency: int, per_request: int) -> None:
    import grpc

    body = make_request(per_request)
    req_rate = rate / per_request
    out = {"sent": 0, "ok": 0, "refused": 0, "errors": 0, "late": 0.0, "request_bytes": len(body)}
    async with grpc.aio.insecure_channel(target) as ch:
        call = ch.unary_unary(TRACE_EXPORT)
        sem = asyncio.Semaphore(concurrency)
        tasks: set[asyncio.Task[None]] = set()

        async def one() -> None:
            try:
                await call(body, timeout=10)
                out["ok"] += per_request
            except grpc.aio.AioRpcError as e:
                if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
                    out["refused"] += per_request
                else:
                    out["errors"] += per_request
            finally:
                sem.release()

        loop = asyncio.get_running_loop()
        t0 = loop.time()
        n = 0
        while True:
            now = loop.time()
            if now - t0 >= duration:
                break
            due = int((now - t0) * req_rate) + 1
            while n < due:
                await sem.acquire()
                t = asyncio.create_task(one())
                tasks.add(t)
                t.add_done_callback(tasks.discard)
                n += 1
                out["sent"] += per_request
            out["late"] = max(out["late"], loop.time() - (t0 + n / req_rate))
            await asyncio.sleep(max(0.0, t0 + n / req_rate - loop.time()))
        if tasks:
            await asyncio.wait(tasks, timeout=15)
        out["elapsed"] = loop.time() - t0
    print(json.dumps(out), flush=True)


# ---------------------------------------------------------------- orchestration

CONFIG = """
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{port}"}}
processors:
  batch: {{}}
exporters:
  otlp:
    endpoint: "127.0.0.1:{sink}"
    tls: {{insecure: true}}
    compression: {compression}
service:
  admin: {{enabled: false}}
  logs: {{level: warning}}
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [otlp]}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit("edgetel exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"port {port} never opened")


def sink_count(sink_port: int) -> int:
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{sink_port}") as ch:
        return int(json.loads(ch.unary_unary(COUNT)(b"", timeout=5))["spans"])


def cpu_seconds(proc: Any) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def run_phase(
    agent: Any, port: int, sink_port: int, rate: float, duration: float, per_request: int
) -> dict[str, float]:
    """Load at `rate` for `duration` s; edgetel's CPU is measured over the middle of the run."""
    before_sink = sink_count(sink_port)
    load = subprocess.Popen(
        [sys.executable, __file__, "--role", "load", "--target", f"127.0.0.1:{port}", "--rate", str(rate),
         "--duration", str(duration), "--concurrency", "512", "--per-request", str(per_request)],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    warm = min(2.0, duration / 4)
    time.sleep(warm)
    c0, w0 = cpu_seconds(agent), time.monotonic()
    time.sleep(duration - 2 * warm)
    c1, w1 = cpu_seconds(agent), time.monotonic()
    out, _ = load.communicate(timeout=duration + 60)
    result = json.loads(out.decode().strip().splitlines()[-1])
    time.sleep(1.0)  # the batch timeout (200 ms) and the exporter's send
    delivered = sink_count(sink_port) - before_sink
    cpu = (c1 - c0) / (w1 - w0)
    achieved = result["sent"] / result["elapsed"]
    return {
        "target": rate,
        "achieved": achieved,
        "cpu_pct": 100 * cpu,
        "us_per_span": 1e6 * cpu / achieved if achieved else 0.0,
        "per_cpu_s": achieved / cpu if cpu else 0.0,
        "rss_mib": agent.memory_info().rss / 2**20,
        "sent": result["sent"],
        "ok": result["ok"],
        "refused": result["refused"],
        "errors": result["errors"],
        "delivered": delivered,
        "late_s": result["late"],
    }


def row(r: dict[str, float]) -> str:
    return (
        f"{r['target']:>9,.0f} {r['achieved']:>9,.0f} {r['cpu_pct']:>7.1f} {r['us_per_span']:>7.2f} "
        f"{r['per_cpu_s']:>10,.0f} {r['rss_mib']:>7.1f} {r['sent']:>9,.0f} {r['delivered']:>9,.0f} "
        f"{r['refused']:>8,.0f} {r['late_s']:>6.2f}"
    )


HEADER = (
    f"{'target/s':>9} {'sent/s':>9} {'cpu%':>7} {'us/span':>7} {'spans/cpu-s':>10} {'rss MiB':>7} {'sent':>9} "
    f"{'delivered':>9} "
    f"{'refused':>8} {'late s':>6}"
)


def bench(compression: str, quick: bool, per_request: int) -> None:
    import psutil

    sink = subprocess.Popen([sys.executable, __file__, "--role", "sink"], stdout=subprocess.PIPE)
    assert sink.stdout is not None
    sink_port = int(sink.stdout.readline())
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="edgetel-bench-"))
    cfg = tmp / "agent.yaml"
    cfg.write_text(CONFIG.format(port=port, sink=sink_port, compression=compression))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    agent_proc = subprocess.Popen([sys.executable, "-m", "edgetel", "run", "--config", str(cfg)], env=env)
    try:
        wait_port(port, agent_proc)
        agent = psutil.Process(agent_proc.pid)
        time.sleep(1.0)
        c0 = cpu_seconds(agent)
        time.sleep(3.0)
        idle = 100 * (cpu_seconds(agent) - c0) / 3.0
        rss = agent.memory_info().rss / 2**20
        print(f"\n{per_request}-span requests ({len(make_request(per_request))} bytes), exporter compression: "
              f"{compression}; edgetel idle: {idle:.1f}% CPU, {rss:.1f} MiB")  # fmt: skip
        print(HEADER)
        print(row(run_phase(agent, port, sink_port, 10_000, 8 if quick else 15, per_request)), " <- 10k spans/s")
        best = 0.0
        for rate in (50_000, 100_000, 150_000, 200_000, 250_000, 300_000, 400_000):
            r = run_phase(agent, port, sink_port, rate, 5 if quick else 8, per_request)
            print(row(r))
            ok = r["refused"] == 0 and r["errors"] == 0 and r["delivered"] >= r["sent"] and r["late_s"] < 0.5
            if not ok or r["cpu_pct"] > 100:
                break
            best = r["achieved"]
        print(f"highest rate delivered completely, no refusal, under one core: {best:,.0f} spans/s")
    finally:
        agent_proc.terminate()
        agent_proc.wait(30)
        sink.terminate()
        sink.wait(10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--role", choices=["bench", "sink", "load"], default="bench")
    p.add_argument("--target", default="")
    p.add_argument("--rate", type=float, default=10_000)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--concurrency", type=int, default=512)
    p.add_argument("--per-request", type=int, nargs="+", default=[SPANS_PER_REQUEST, 512], help="spans per request")
    p.add_argument("--compression", choices=["gzip", "none", "both"], default="both")
    p.add_argument("--quick", action="store_true", help="shorter phases")
    a = p.parse_args()
    if a.role == "sink":
        asyncio.run(run_sink())
    elif a.role == "load":
        asyncio.run(run_load(a.target, a.rate, a.duration, a.concurrency, a.per_request[0]))
    else:
        print(f"edgetel OTLP pass-through; {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        for per_request in a.per_request:
            for comp in ("none", "gzip") if a.compression == "both" else (a.compression,):
                bench(comp, a.quick, per_request)


if __name__ == "__main__":
    main()
