"""Shared pieces of the fault cases (crash, outage, disk full, corrupt buffers, reload storm): load generators
that remember exactly what the agent acknowledged, readers of what arrived at the backends, a tmpfs mount."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.helpers import IN_CI


def run_slow(config: pytest.Config) -> None:
    """Skip a `slow` case unless EDGETEL_SLOW_TESTS=1 or a `-m` expression selected it (not in the CI run)."""
    if os.environ.get("EDGETEL_SLOW_TESTS") != "1" and not config.getoption("markexpr"):
        pytest.skip("slow: set EDGETEL_SLOW_TESTS=1 or select with -m slow")


def env_seconds(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


# -- data with identities ----------------------------------------------------------------------------------
def span_request(batch: int, spans: int, pad: int = 0) -> ExportTraceServiceRequest:
    """`spans` spans whose span id encodes (batch, index): the backend's set of ids tells what arrived."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add(key="service.name")
    kv.value.string_value = "reliability"
    ss = rs.scope_spans.add()
    now = time.time_ns()
    for i in range(spans):
        sp = ss.spans.add(name="op", kind=2, start_time_unix_nano=now, end_time_unix_nano=now + 1000)
        sp.trace_id = batch.to_bytes(16, "big")
        sp.span_id = span_id(batch, i).to_bytes(8, "big")
        if pad:
            a = sp.attributes.add(key="pad")
            a.value.string_value = "x" * pad
    return req


def span_id(batch: int, index: int) -> int:
    return (batch << 16) | index | (1 << 62)  # never zero (an invalid span id)


def batch_of(span: int) -> int:
    return (span & ~(1 << 62)) >> 16


def span_ids_of(requests: list[Any]) -> Counter[int]:
    """Span ids (as ints) in the traces requests the test backend answered with success, with repeats."""
    out: Counter[int] = Counter()
    for r in list(requests):
        if r.signal != "traces":
            continue
        for rs in r.message.resource_spans:
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    out[int.from_bytes(sp.span_id, "big")] += 1
    return out


def gauge_request(name: str, seq: int, series: int, t_ns: int) -> ExportMetricsServiceRequest:
    """One point per series `name{s="0".."series-1"}`, value `seq`, all at `t_ns`."""
    req = ExportMetricsServiceRequest()
    m = req.resource_metrics.add().scope_metrics.add().metrics.add(name=name)
    for s in range(series):
        dp = m.gauge.data_points.add(as_double=float(seq), time_unix_nano=t_ns)
        a = dp.attributes.add(key="s")
        a.value.string_value = str(s)
    return req


# -- load generators: each records what the agent acknowledged (and when) ----------------------------------
class Load(threading.Thread):
    """Sends one request every `interval` until stopped or `max_requests` were tried (bounded)."""

    def __init__(self, interval: float, max_requests: int = 100_000) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.max_requests = max_requests
        self.stopped = threading.Event()
        self.acked: dict[int, float] = {}  # request number -> monotonic time of the agent's success answer
        self.errors: Counter[str] = Counter()
        self.error_log: list[tuple[float, float, str]] = []  # (sent at, failed at, kind), monotonic
        self.tried = 0
        self.slowest = 0.0  # longest time to an acknowledgement, seconds

    def send(self, n: int) -> None:  # raises on any failure
        raise NotImplementedError

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stopped.is_set() and self.tried < self.max_requests:
            n = self.tried
            self.tried += 1
            sent = time.monotonic()
            try:
                self.send(n)
                self.acked[n] = time.monotonic()
                self.slowest = max(self.slowest, self.acked[n] - sent)
            except Exception as e:  # every failure is counted by kind
                kind = classify(e)
                self.errors[kind] += 1
                if len(self.error_log) < 1000:
                    detail = e.details() if isinstance(e, grpc.RpcError) else str(e)
                    self.error_log.append((sent, time.monotonic(), f"{kind} ({detail})"))
            next_at += self.interval
            self.stopped.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self.stopped.set()
        self.join(30)


def classify(e: BaseException) -> str:
    text = str(e).lower()
    if isinstance(e, ConnectionRefusedError) or "connection refused" in text or "failed to connect" in text:
        return "connection_refused"
    if isinstance(e, grpc.RpcError):
        return f"grpc_{e.code().name}"
    if isinstance(e, urllib.error.HTTPError):
        return f"http_{e.code}"
    return type(e).__name__


# The codes an OTLP/gRPC client retries (the OTLP specification's list).
RETRYABLE = {grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED,
             grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS}  # fmt: skip


class GrpcTraceLoad(Load):
    """OTLP/gRPC traces, `spans` spans per request, span ids from `span_id(batch0 + n, i)`; with `attempts` > 1
    it retries the retryable codes as an OTLP client does (counted in `retries`)."""

    def __init__(self, endpoint: str, spans: int, interval: float, batch0: int = 0, pad: int = 0,
                 max_requests: int = 100_000, attempts: int = 1) -> None:  # fmt: skip
        super().__init__(interval, max_requests)
        self.endpoint, self.spans, self.batch0, self.pad = endpoint, spans, batch0, pad
        self.attempts = attempts
        self.retries: Counter[str] = Counter()
        self.channel = grpc.insecure_channel(endpoint, options=[("grpc.enable_retries", 0)])
        self.stub = trace_service_pb2_grpc.TraceServiceStub(self.channel)  # type: ignore[no-untyped-call]

    def send(self, n: int) -> None:
        request = span_request(self.batch0 + n, self.spans, self.pad)
        for attempt in range(self.attempts):
            try:
                self.stub.Export(request, timeout=5, wait_for_ready=False)
                return
            except grpc.RpcError as e:
                code = e.code()
                if code not in RETRYABLE or attempt == self.attempts - 1 or self.stopped.is_set():
                    raise
                self.retries[code.name] += 1
                time.sleep(0.02 * 2**attempt)

    def acked_ids(self, before: float = float("inf")) -> set[int]:
        return {
            span_id(self.batch0 + n, i) for n, t in list(self.acked.items()) if t < before for i in range(self.spans)
        }

    def stop(self) -> None:
        super().stop()
        self.channel.close()


class HttpTraceLoad(GrpcTraceLoad):
    """OTLP/HTTP protobuf traces (a new connection per request, as many clients do)."""

    def __init__(self, url: str, spans: int, interval: float, batch0: int = 0, max_requests: int = 100_000) -> None:
        Load.__init__(self, interval, max_requests)
        self.url, self.spans, self.batch0, self.pad = url, spans, batch0, 0
        self.attempts, self.retries = 1, Counter()
        self.channel = grpc.insecure_channel("127.0.0.1:1")  # unused; closed in stop()

    def send(self, n: int) -> None:
        body = span_request(self.batch0 + n, self.spans).SerializeToString()
        r = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/x-protobuf"})
        with urllib.request.urlopen(r, timeout=5) as resp:
            resp.read()


class GaugeLoad(Load):
    """OTLP/HTTP metrics: request n is `gauge_request(name, n, series, now)`; remembers each request's time."""

    def __init__(self, url: str, name: str, series: int, interval: float, max_requests: int = 100_000) -> None:
        super().__init__(interval, max_requests)
        self.url, self.name, self.series = url, name, series
        self.stamps: dict[int, int] = {}

    def send(self, n: int) -> None:
        t = time.time_ns() // 1_000_000 * 1_000_000  # Prometheus keeps milliseconds
        self.stamps[n] = t
        body = gauge_request(self.name, n, self.series, t).SerializeToString()
        r = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/x-protobuf"})
        with urllib.request.urlopen(r, timeout=5) as resp:
            resp.read()


class StatsdLoad(Load):
    """`<name>:1|c` lines, `lines` per request, over UDP or one TCP connection (reconnects on error)."""

    def __init__(self, port: int, name: str, lines: int, interval: float, tcp: bool = False,
                 max_requests: int = 100_000) -> None:  # fmt: skip
        super().__init__(interval, max_requests)
        self.port, self.name, self.lines, self.tcp = port, name, lines, tcp
        self.sock: socket.socket | None = None

    def send(self, n: int) -> None:
        payload = "".join(f"{self.name}:1|c\n" for _ in range(self.lines)).encode()
        if not self.tcp:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(payload.rstrip(b"\n"), ("127.0.0.1", self.port))
            return
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        try:
            self.sock.sendall(payload)
        except OSError:
            self.sock.close()
            self.sock = None
            raise

    def counted(self) -> int:
        return len(self.acked) * self.lines

    def stop(self) -> None:
        super().stop()
        if self.sock is not None:
            self.sock.close()


# -- reading the backends ----------------------------------------------------------------------------------
def prometheus_self_metric(url: str, name: str, **labels: str) -> float:
    """Sum of the samples of one metric on a Prometheus server's own /metrics, filtered by labels."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def agent_metric_sum(agent: Any, name: str, **labels: str) -> float:
    """Sum over every label set of an agent self-metric that matches `labels`."""
    total = 0.0
    for line in agent.get("/metrics")[1].splitlines():
        if (line.startswith(name + "{") or line.startswith(name + " ")) and all(
            f'{k}="{v}"' in line for k, v in labels.items()
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A size-limited tmpfs at `path` (root only): skipped when mount is not permitted, failed in CI."""
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True, check=False)  # fmt: skip
    if r.returncode != 0:
        reason = f"cannot mount a tmpfs (needs root): {r.stderr.strip()}"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
