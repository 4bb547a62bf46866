"""Idle footprint of `edgetel run` with the built-in default configuration.

Starts the agent as a subprocess (its state directory in a temp dir), waits until /readyz answers, lets it
idle through a few collection intervals, and reports RSS (peak and at the end, from /proc via psutil), and
CPU-seconds per minute of idling. Goal (issue #2): at most 45 MiB RSS, the Collector's idle figure.

    .venv/bin/python benchmarks/idle_rss.py [--seconds 35]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request

import psutil


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=35.0, help="idle time to observe")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "STATE_DIRECTORY": state}
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "edgetel", "run"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        p = psutil.Process(proc.pid)
        try:
            while True:
                try:
                    with urllib.request.urlopen("http://127.0.0.1:13133/readyz", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.05)
                if time.monotonic() - t0 > 30 or proc.poll() is not None:
                    raise SystemExit("agent did not become ready")
            ready_s = time.monotonic() - t0
            cpu0 = sum(p.cpu_times()[:2])
            start = time.monotonic()
            peak = 0
            samples = []
            while time.monotonic() - start < args.seconds:
                rss = p.memory_info().rss
                peak = max(peak, rss)
                samples.append(rss)
                time.sleep(0.5)
            cpu = sum(p.cpu_times()[:2]) - cpu0
            elapsed = time.monotonic() - start
        finally:
            proc.terminate()
            proc.wait(30)
    mib = 1024 * 1024
    print(f"machine: {platform.machine()}, {psutil.cpu_count()} cores, Python {platform.python_version()}")
    print("| metric | value |")
    print("|---|---|")
    print(f"| time to ready | {ready_s:.2f} s |")
    print(f"| RSS at end of idle | {samples[-1] / mib:.1f} MiB |")
    print(f"| peak RSS while idle | {peak / mib:.1f} MiB |")
    print(f"| idle CPU | {cpu / elapsed * 60:.3f} CPU-s per minute ({cpu / elapsed * 100:.2f}% of one core) |")
    print(f"| goal | <= 45 MiB RSS: {'met' if peak <= 45 * mib else 'NOT met'} |")


if __name__ == "__main__":
    main()
