"""Shared fixtures of the overload and hostile-input cases: RSS and health sampling of a running agent."""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.agentproc import free_port

PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[1]) * PAGE


def udp_drops(port: int) -> int:
    """Datagrams the kernel dropped on the UDP socket bound to 127.0.0.1:`port` (the `drops` column)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[1] == want:
                return int(cols[-1])
    return 0


class Watch(threading.Thread):
    """Samples the agent's RSS and GET /healthz every `interval` seconds until stopped."""

    def __init__(self, pid: int, admin_port: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.admin_port, self.interval = pid, admin_port, interval
        self.max_rss = 0
        self.samples = 0
        self.timeline: list[float] = []  # the largest RSS (MiB) seen in each second
        self.health_ok = 0
        self.health_failed: list[str] = []
        self._stop_event = threading.Event()
        self._last_health = 0.0

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                rss = rss_bytes(self.pid)
                self.max_rss = max(self.max_rss, rss)
                self.samples += 1
                second = int(self.samples * self.interval)
                if second >= len(self.timeline):
                    self.timeline.append(0.0)
                self.timeline[-1] = max(self.timeline[-1], round(rss / MIB, 1))
            except OSError:
                self.health_failed.append("process gone")
                return
            now = time.monotonic()
            if now - self._last_health >= 0.5:
                self._last_health = now
                self._health()
            self._stop_event.wait(self.interval)

    def _health(self) -> None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/healthz", timeout=5) as r:
                if r.status == 200:
                    self.health_ok += 1
                    return
                self.health_failed.append(f"status {r.status}")
        except (OSError, urllib.error.URLError) as e:
            self.health_failed.append(repr(e))

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)


@pytest.fixture
def ports() -> Iterator[dict[str, int]]:
    """Free ports for one agent: grpc, http, statsd (UDP and TCP), and a dead backend nobody listens on."""
    yield {
        "grpc": free_port(),
        "http": free_port(),
        "statsd": free_port(socket.SOCK_DGRAM),
        "statsd_tcp": free_port(),
        "dead": free_port(),
    }
