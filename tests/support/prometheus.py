"""A real Prometheus (2.42, Debian's /usr/bin/prometheus) for tests: remote-write receiver on a free loopback
port, TSDB in a temporary directory, no scrape targets. Stop and start it again on the same data directory to
simulate an outage. Query it with PromQL through the HTTP API."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

BINARY = os.environ.get("EDGETEL_PROMETHEUS", "/usr/bin/prometheus")
CONFIG = "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs: []\n"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_prometheus() -> str:
    """The binary's path; skips the test when it is missing, but fails when CI=true."""
    path = shutil.which(BINARY) or (BINARY if os.access(BINARY, os.X_OK) else None)
    if path is None:
        reason = f"Prometheus binary {BINARY} not installed (Debian package `prometheus`; scripts/setup.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


class Prometheus:
    def __init__(self, workdir: Path, native_histograms: bool = False, binary: str = BINARY) -> None:
        self.binary = binary
        self.workdir = workdir
        self.data = workdir / "data"
        self.native_histograms = native_histograms
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "prometheus.log"
        (workdir / "prometheus.yml").write_text(CONFIG)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    def start(self, timeout: float = 30.0) -> Prometheus:
        args = [
            self.binary,
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.data}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-remote-write-receiver",
            "--log.level=warn",
        ]
        if self.native_histograms:
            args.append("--enable-feature=native-histograms")
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed in stop()
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus not ready after {timeout}s: {self.log()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def api(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str, time: float | None = None) -> list[dict[str, Any]]:
        """Instant query: the result vector (each item has `metric` and `value` or `histogram`)."""
        data = self.api("/api/v1/query", query=promql, time=time)
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, promql: str, time: float | None = None) -> float | None:
        """The value of a query expected to return at most one float sample."""
        result = self.query(promql, time)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def series(self, match: str) -> list[dict[str, str]]:
        data: list[dict[str, str]] = self.api("/api/v1/series", **{"match[]": match})
        return data
