"""A real node_exporter on a loopback port, and a small Prometheus text format parser."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
COLLECTORS = ("cpu", "meminfo", "filesystem", "netdev", "diskstats", "loadavg", "stat")

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]
_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


_ESCAPES = {"\\": "\\", "n": "\n", '"': '"'}


def _unescape(value: str) -> str:
    """Undo the exposition format's label escaping (one left-to-right pass: `\\n` is `\\` then `n`)."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), value)


def parse_text(text: str) -> Series:
    out: Series = {}
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise ValueError(f"unparsable line {line!r}")
        labels = frozenset(
            (k, _unescape(v))
            for k, v in _LABEL.findall(m.group(2) or "")
        )
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def binary() -> str | None:
    return NODE_EXPORTER if os.access(NODE_EXPORTER, os.X_OK) else shutil.which("prometheus-node-exporter")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NodeExporter:
    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}/metrics"

    def scrape_text(self) -> str:
        with urllib.request.urlopen(self.url, timeout=10) as resp:
            return str(resp.read().decode())

    def scrape(self) -> Series:
        return parse_text(self.scrape_text())


@contextmanager
def node_exporter(path: str, all_collectors: bool = False) -> Iterator[NodeExporter]:
    """Start node_exporter on a free loopback port (its default collectors and filters, or only the ones
    compared), wait until it answers, stop it afterwards."""
    last_error: Exception | None = None
    for _attempt in range(3):
        port = _free_port()
        args = [path, f"--web.listen-address=127.0.0.1:{port}", "--web.disable-exporter-metrics"]
        if not all_collectors:
            args += ["--collector.disable-defaults", *(f"--collector.{c}" for c in COLLECTORS)]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ne = NodeExporter(proc, port)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    ne.scrape_text()
                    break
                except OSError as e:
                    last_error = e
                    time.sleep(0.05)
            else:
                continue  # exited (port taken) or never answered: try another port
            yield ne
            return
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    raise RuntimeError(f"node_exporter did not start: {last_error}")
