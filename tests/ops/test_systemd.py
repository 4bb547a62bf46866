"""The systemd unit (checked by systemd-analyze) and the notify protocol (checked against a datagram socket
standing in for systemd, with the real agent process)."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.agentproc import AgentProcess, wait_for
from tests.helpers import IN_CI

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "edgetel.service"

CONFIG = """
receivers:
  hostmetrics: {collection_interval: 1h, initial_delay: 0s, scrapers: {load: {}}}
exporters:
  debug: {}
service:
  pipelines:
    metrics: {receivers: [hostmetrics], exporters: [debug]}
  admin: {endpoint: "{admin}"}
"""


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if IN_CI:
            pytest.fail("systemd-analyze is missing (Debian package systemd)")
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    # verify checks that the binaries exist: point them at this checkout's installed edgetel.
    edgetel = Path(sys.executable).parent / "edgetel"
    unit = tmp_path / "edgetel.service"
    unit.write_text(UNIT.read_text().replace("/usr/bin/edgetel", str(edgetel)))
    res = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [line for line in res.stderr.splitlines() if "edgetel.service" in line]
    assert res.returncode == 0 and not problems, res.stderr


def test_unit_is_hardened() -> None:
    text = UNIT.read_text()
    for line in ("Type=notify", "ExecStartPre=/usr/bin/edgetel validate", "Restart=on-failure",
                 "StateDirectory=edgetel", "ConfigurationDirectory=edgetel", "ProtectSystem=strict",
                 "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
                 "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK", "SystemCallFilter=@system-service",
                 "MemoryDenyWriteExecute=yes", "UMask=0077", "WatchdogSec="):
        assert line in text, line
    reload_lines = [x for x in text.splitlines() if x.startswith("ExecReload=")]
    assert "validate" in reload_lines[0] and "-HUP" in reload_lines[1]


class FakeSystemd:
    """A datagram socket at $NOTIFY_SOCKET recording every notification with its arrival time."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []

    def poll(self, seconds: float = 0.2) -> list[str]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))
        return [m for _, m in self.messages]

    def seen(self, fragment: str) -> bool:
        self.poll(0.05)
        return any(fragment in m for _, m in self.messages)


def test_notify_ready_reloading_stopping_and_watchdog(tmp_path: Path) -> None:
    sd = FakeSystemd(tmp_path / "notify.sock")
    env = {"NOTIFY_SOCKET": sd.path, "WATCHDOG_USEC": "400000"}  # watchdog pings every 0.2 s
    agent = AgentProcess(CONFIG, workdir=tmp_path, env=env)
    agent.start(wait_ready=False)
    try:
        wait_for(lambda: sd.seen("READY=1"), timeout=20)
        ready = next(m for _, m in sd.messages if "READY=1" in m)
        assert "STATUS=1 pipeline running" in ready
        assert agent.get("/readyz")[0] == 200
        sd.messages.clear()
        sd.poll(1.2)
        pings = [t for t, m in sd.messages if m == "WATCHDOG=1"]
        assert len(pings) >= 4, sd.messages
        gaps = [b - a for a, b in itertools.pairwise(pings)]
        assert max(gaps) < 0.4  # never later than WATCHDOG_USEC
        agent.send(signal.SIGHUP)
        wait_for(lambda: sd.seen("RELOADING=1"))
        wait_for(lambda: any("READY=1" in m for _, m in sd.messages
                             if m.startswith("READY=1")), timeout=10)
        reloading = next(m for _, m in sd.messages if "RELOADING=1" in m)
        assert "MONOTONIC_USEC=" in reloading
        assert agent.stop(signal.SIGTERM) == 0
        assert sd.seen("STOPPING=1")
    finally:
        agent.kill()
        sd.sock.close()
    assert os.path.exists(sd.path)
