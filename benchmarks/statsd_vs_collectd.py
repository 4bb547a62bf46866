"""edgetel's statsd receiver against collectd's statsd plugin (C), the same StatsD load, the same run.

Each server runs in its own process; a separate load-generator process sends pre-built packets with a raw UDP
socket at a paced rate. Reported: CPU-seconds per million lines (psutil CPU times of the server process,
before/after), and loss (edgetel: lines sent - lines parsed per its own counter; both: the socket's drop
counter in /proc/net/udp, in packets).

    .venv/bin/python benchmarks/statsd_vs_collectd.py [--seconds 10] [--quick]

The load is plain Etsy StatsD (collectd does not read DogStatsD tags): per 10 lines, 6 counters `name:1|c` over
200 names, 2 gauges with random values 0-999 over 50 names, 2 timers with random values 0-999 ms over 50 names
(a tenth with `|@0.5`). Random values make most gauge and timer lines distinct (the hard case for edgetel's
Python path, which runs once per distinct line; the compiled path does not care); `--counters-only` sends only
counters. `--python` runs edgetel on its Python path (`EDGETEL_STATSD_PYTHON=1`) for comparison.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
COLLECTD = "/usr/sbin/collectd"


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_packets(lines_per_packet: int, count: int, counters_only: bool, seed: int = 7) -> list[bytes]:
    rnd = random.Random(seed)

    def line() -> str:
        k = rnd.randrange(10)
        if counters_only or k < 6:
            return f"app.requests.{rnd.randrange(200)}:1|c"
        if k < 8:
            return f"app.queue.{rnd.randrange(50)}:{rnd.randrange(1000)}|g"
        rate = "|@0.5" if rnd.randrange(10) == 0 else ""
        return f"app.latency.{rnd.randrange(50)}:{rnd.randrange(1000)}|ms{rate}"

    return ["\n".join(line() for _ in range(lines_per_packet)).encode() for _ in range(count)]


def generator(
    port: int, packets: list[bytes], lines_per_packet: int, rate: float, seconds: float, out: mp.Queue
) -> None:  # type: ignore[type-arg]
    """Send `rate` lines/s for `seconds`, paced in 1 ms steps. Puts (packets sent, elapsed) on `out`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))
    send = sock.send
    pps = rate / lines_per_packet
    n = len(packets)
    sent = 0
    start = time.perf_counter()
    end = start + seconds
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        due = int((now - start) * pps)
        while sent < due:
            try:
                send(packets[sent % n])
            except OSError:  # ECONNREFUSED from an earlier ICMP, or ENOBUFS: counted as sent (lost)
                pass
            sent += 1
        time.sleep(0.0005)
    out.put((sent, time.perf_counter() - start))
    sock.close()


def udp_drops(port: int) -> int:
    """Datagrams the kernel dropped for the socket bound to 127.0.0.1:port (the last /proc/net/udp column)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/udp") as f:
        for row in f.readlines()[1:]:
            cols = row.split()
            if cols[1] == want:
                return int(cols[-1])
    return 0


class Collectd:
    name = "collectd 5 statsd (C)"

    def __init__(self, tmp: Path) -> None:
        self.port = free_port(socket.SOCK_DGRAM)
        conf = tmp / "collectd.conf"
        conf.write_text(
            f'Hostname "bench"\nFQDNLookup false\nBaseDir "{tmp}"\nPIDFile "{tmp}/collectd.pid"\n'
            'PluginDir "/usr/lib/collectd"\nInterval 10\n'
            f'LoadPlugin statsd\n<Plugin statsd>\n  Host "127.0.0.1"\n  Port "{self.port}"\n</Plugin>\n'
        )
        self.proc = subprocess.Popen(
            [COLLECTD, "-f", "-C", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not udp_listening(self.port):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("collectd did not start")
            time.sleep(0.05)

    def lines(self) -> float | None:
        return None  # collectd has no counter of lines read; loss comes from the socket's drop counter

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(20)


def udp_listening(port: int) -> bool:
    want = f"0100007F:{port:04X}"
    with open("/proc/net/udp") as f:
        return any(row.split()[1] == want for row in f.readlines()[1:])


class Edgetel:
    name = "edgetel statsd"

    def __init__(self, tmp: Path, rcvbuf: str, python_path: bool = False) -> None:
        self.port = free_port(socket.SOCK_DGRAM)
        self.admin = free_port(socket.SOCK_STREAM)
        conf = tmp / "edgetel.yaml"
        conf.write_text(
            f"receivers:\n  statsd:\n    endpoint: 127.0.0.1:{self.port}\n    aggregation_interval: 2s\n"
            f"    rcvbuf: {rcvbuf}\n"
            f"exporters:\n  file: {{path: '{tmp}/out.jsonl'}}\n"
            "service:\n  pipelines:\n    metrics: {receivers: [statsd], exporters: [file]}\n"
            f"  admin: {{endpoint: '127.0.0.1:{self.admin}'}}\n"
        )
        env = {**os.environ, "STATE_DIRECTORY": str(tmp)}
        if python_path:
            env["EDGETEL_STATSD_PYTHON"] = "1"
            self.name = "edgetel statsd (Python path)"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgetel", "run", "--config", str(conf)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("edgetel did not start")
            time.sleep(0.1)

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=5) as r:
            text = r.read().decode()
        return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(name + "{"))

    def lines(self) -> float | None:
        return self.metric("edgetel_statsd_lines_parsed_total")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def run_one(
    server: Collectd | Edgetel, packets: list[bytes], lpp: int, rate: float, seconds: float
) -> dict[str, float]:
    proc = psutil.Process(server.proc.pid)
    time.sleep(1.0)
    lines_before = server.lines()
    drops_before = udp_drops(server.port)
    cpu0 = proc.cpu_times()
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    gen = mp.Process(target=generator, args=(server.port, packets, lpp, rate, seconds, q))
    gen.start()
    sent, elapsed = q.get(timeout=seconds + 60)
    gen.join(30)
    time.sleep(2.5)  # edgetel digests buffered packets at least every aggregation_interval (2 s here)
    cpu1 = proc.cpu_times()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    drops = udp_drops(server.port) - drops_before
    lines_after = server.lines()
    counted = None if lines_after is None or lines_before is None else lines_after - lines_before
    sent_lines = sent * lpp
    lost = sent_lines - counted if counted is not None else drops * lpp
    return {
        "sent_lines": sent_lines, "rate": sent_lines / elapsed, "cpu": cpu,
        "cpu_per_m": cpu / (sent_lines - lost) * 1e6 if sent_lines > lost else float("nan"),
        "lost": lost, "drops": drops * lpp,
        "cpu_user": cpu1.user - cpu0.user, "cpu_sys": cpu1.system - cpu0.system, "load": os.getloadavg()[0],
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=200_000, help="lines per second for the 20-line-packet runs")
    ap.add_argument("--single-rate", type=float, default=100_000, help="lines per second for single-line packets")
    ap.add_argument("--counters-only", action="store_true")
    ap.add_argument("--rcvbuf", default="16MiB", help="edgetel's rcvbuf (collectd keeps the kernel default)")
    ap.add_argument("--only", choices=["edgetel", "collectd"], default=None)
    ap.add_argument("--python", action="store_true", help="edgetel without its compiled statsd path")
    args = ap.parse_args()
    if not Path(COLLECTD).exists() and args.only != "edgetel":
        print(f"{COLLECTD} is missing (Debian package collectd-core); use --only edgetel", file=sys.stderr)
        return 2
    scenarios = [(20, args.rate), (1, args.single_rate)]
    results: list[tuple[str, int, dict[str, float]]] = []
    for lpp, rate in scenarios:
        packets = make_packets(lpp, 20000 if lpp == 1 else 5000, args.counters_only)
        for kind in ("collectd", "edgetel"):
            if args.only and kind != args.only:
                continue
            tmp = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
            server: Collectd | Edgetel = Collectd(tmp) if kind == "collectd" else Edgetel(tmp, args.rcvbuf, args.python)
            try:
                results.append((server.name, lpp, run_one(server, packets, lpp, rate, args.seconds)))
            finally:
                server.stop()
                shutil.rmtree(tmp, ignore_errors=True)
            r = results[-1][2]
            print(
                f"  done: {kind} {lpp}-line packets: {r['cpu_per_m']:.3f} CPU-s/M lines, lost {r['lost']:.0f}",
                flush=True,
            )
    print(f"\nStatsD receive, {'counters only' if args.counters_only else 'mixed c/g/ms'} load, {args.seconds:g} s per run, "
          f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")  # fmt: skip
    print("load1: the machine's 1-minute load average after the run (other work skews CPU and loss)")
    head = ("server", "lines/pkt", "lines/s", "CPU-s", "user", "sys", "CPU-s/M lines", "lost lines", "sock drops", "load1")
    print("{:26} {:>9} {:>9} {:>7} {:>6} {:>6} {:>14} {:>11} {:>10} {:>5}".format(*head))
    for name, lpp, r in results:
        row = (name, lpp, r["rate"], r["cpu"], r["cpu_user"], r["cpu_sys"], r["cpu_per_m"], r["lost"], r["drops"], r["load"])
        print("{:26} {:>9} {:>9.0f} {:>7.2f} {:>6.2f} {:>6.2f} {:>14.3f} {:>11.0f} {:>10.0f} {:>5.1f}".format(*row))
    by = {(n.split()[0], lpp): r for n, lpp, r in results}
    for lpp, _ in scenarios:
        if ("edgetel", lpp) in by and ("collectd", lpp) in by:
            ratio = by[("edgetel", lpp)]["cpu_per_m"] / by[("collectd", lpp)]["cpu_per_m"]
            print(f"ratio edgetel/collectd CPU per line, {lpp}-line packets: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
