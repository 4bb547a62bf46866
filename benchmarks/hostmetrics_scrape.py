"""CPU seconds per scrape: edgetel's hostmetrics receiver (default scrapers, both namings) side by side with
the real node_exporter scraped over HTTP in the same run.

    .venv/bin/python benchmarks/hostmetrics_scrape.py [--scrapes N]

Each figure is the median of 3 rounds of N scrapes. edgetel: in-process, time.process_time() per scrape (building the OTLP request; a second row adds
its serialization). node_exporter: N HTTP scrapes of /metrics, its process CPU time (psutil, user+system)
before and after, divided by N; once with its default collectors, once with only the collectors that
correspond to edgetel's default scrapers (and without its own go_/process_ metrics). node_exporter's figure
includes serving HTTP and encoding the text format; edgetel's row "+ serialize" includes protobuf encoding.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import socket
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Callable

import psutil

from edgetel.component.factory import CreateContext
from edgetel.component.ids import ComponentID, Kind, Signal
from edgetel.component.lifecycle import Lifecycle
from edgetel.config.decode import decode
from edgetel.config.problems import Problems
from edgetel.pipeline.sockets import SocketPool
from edgetel.receivers.hostmetrics.config import DEFAULT_SCRAPERS, HostMetricsConfig
from edgetel.receivers.hostmetrics.receiver import HostMetricsReceiver
from edgetel.telemetry.selfmetrics import Registry

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
ROUNDS = 3
COMPARABLE = ("cpu", "meminfo", "loadavg", "diskstats", "filesystem", "netdev", "vmstat", "stat", "uname", "time")


def edgetel_rows(n: int) -> list[tuple[str, float, int, int]]:
    rows = []
    no_conn = {s: {} for s in DEFAULT_SCRAPERS}
    no_conn["network"] = {"metrics": {"system.network.connections": {"enabled": False}}}
    variants = (
        ("otel names", {"metric_names": "otel"}),
        ("otel names, no TCP conn. counts", {"metric_names": "otel", "scrapers": no_conn}),
        ("node_exporter names", {"metric_names": "node_exporter"}),
    )
    for label, raw in variants:
        cfg = decode(HostMetricsConfig, raw, Problems("bench"))
        ctx = CreateContext(
            id=ComponentID("hostmetrics"), kind=Kind.RECEIVER, logger=logging.getLogger("bench"),
            metrics=Registry(), sockets=SocketPool(), lifecycle=Lifecycle(),
        )  # fmt: skip
        rcv = HostMetricsReceiver(ctx, cfg, {Signal.METRICS: None})  # type: ignore[dict-item]
        for _ in range(20):  # warm up (templates, allocator)
            batch = rcv.scrape()
        size = len(batch.serialize())

        scrape_only = rcv.scrape

        def scrape_serialize(r: HostMetricsReceiver = rcv) -> None:
            r.scrape().serialize()

        for suffix, fn in (("", scrape_only), (" + serialize", scrape_serialize)):
            per = _median_per_call(fn, n)
            rows.append((f"edgetel hostmetrics ({label}){suffix}", per, batch.item_count(), size))
    return rows


def _median_per_call(fn: Callable[[], object], n: int) -> float:
    """Median over ROUNDS rounds of process CPU seconds per call (the machine is shared: take the median)."""
    results = []
    for _ in range(ROUNDS):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        results.append((time.process_time() - t0) / n)
    return statistics.median(results)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_exporter_row(path: str, n: int, collectors: tuple[str, ...] | None) -> tuple[str, float, int, int]:
    port = _free_port()
    args = [path, f"--web.listen-address=127.0.0.1:{port}"]
    if collectors is not None:
        args += ["--web.disable-exporter-metrics", "--collector.disable-defaults", *(f"--collector.{c}" for c in collectors)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        body = b""
        for _ in range(200):
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    body = r.read()
                break
            except OSError:
                time.sleep(0.05)
        for _ in range(3):  # warm up
            with urllib.request.urlopen(url, timeout=10) as r:
                body = r.read()
        ps = psutil.Process(proc.pid)
        results = []
        for _ in range(ROUNDS):
            c0 = ps.cpu_times()
            for _ in range(n):
                with urllib.request.urlopen(url, timeout=10) as r:
                    body = r.read()
            c1 = ps.cpu_times()
            results.append(((c1.user + c1.system) - (c0.user + c0.system)) / n)
        per = statistics.median(results)
        samples = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
        label = "node_exporter 1.5 (default collectors)" if collectors is None else (
            "node_exporter 1.5 (comparable collectors only)")  # fmt: skip
        return (label, per, samples, len(body))
    finally:
        proc.terminate()
        proc.wait(5)


def _tcp_sockets() -> int:
    from edgetel.receivers.hostmetrics.procfs import count_tcp_states_netlink

    counts: dict[str, int] = {}
    count_tcp_states_netlink(counts)
    return sum(counts.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scrapes", type=int, default=200)
    args = ap.parse_args()
    n = max(10, min(args.scrapes, 5000))
    rows = edgetel_rows(n)
    path = NODE_EXPORTER if os.access(NODE_EXPORTER, os.X_OK) else shutil.which("prometheus-node-exporter")
    if path:
        rows.append(node_exporter_row(path, n, None))
        rows.append(node_exporter_row(path, n, COMPARABLE))
    else:
        print("node_exporter not installed: its rows are missing (apt-get install prometheus-node-exporter)")
    print(f"# hostmetrics scrape cost, {n} scrapes each; {platform.node()} {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")  # fmt: skip
    print(f"TCP sockets on this host now: {_tcp_sockets()} (counting them by state is part of the otel row)")
    print(f"{'what':<60} {'CPU ms/scrape':>14} {'points/samples':>15} {'bytes':>8}")
    for label, per, items, size in rows:
        print(f"{label:<60} {per * 1000:>14.3f} {items:>15} {size:>8}")


if __name__ == "__main__":
    main()
