"""End to end: `edgetel run` with a disk-buffered prometheusremotewrite exporter, the backend down, the agent
killed with SIGKILL, then restarted with the backend up: every sample arrives, once the buffer is drained."""

from __future__ import annotations

import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cramjam
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from edgetel.buffer.check import check_buffer
from tests.agentproc import AgentProcess, free_port, wait_for
from tests.prw.wire import write_request

CONFIG = """
receivers:
  otlp:
    protocols: {{http: {{endpoint: "127.0.0.1:{rport}"}}}}
exporters:
  prometheusremotewrite:
    endpoint: http://127.0.0.1:{bport}/api/v1/write
    send_metadata: false
    target_info: false
    retry_on_failure: {{initial_interval: 50ms, max_interval: 200ms}}
    buffer: {{type: disk, sync_interval: 200ms}}
service:
  pipelines:
    metrics: {{receivers: [otlp], exporters: [prometheusremotewrite]}}
  admin: {{endpoint: "{{admin}}"}}
"""


class Backend:
    """A remote-write endpoint that records the values of the `e2e` samples it is sent."""

    def __init__(self, port: int) -> None:
        self.values: list[float] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                req = write_request(bytes(cramjam.snappy.decompress_raw(body)))
                for s in req.series:
                    if s.name == "e2e":
                        backend.values.extend(s.value(i) for i in range(len(s.samples)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def send_point(port: int, value: int) -> int:
    req = ExportMetricsServiceRequest()
    m = req.resource_metrics.add().scope_metrics.add().metrics.add(name="e2e")
    m.gauge.data_points.add(as_double=float(value), time_unix_nano=time.time_ns() + value * 1_000_000)
    r = urllib.request.Request(f"http://127.0.0.1:{port}/v1/metrics", data=req.SerializeToString(),
                               headers={"Content-Type": "application/x-protobuf"})  # fmt: skip
    with urllib.request.urlopen(r, timeout=5) as resp:
        return int(resp.status)


@pytest.fixture
def ports() -> Iterator[tuple[int, int]]:
    yield free_port(), free_port()


def test_kill_9_with_the_backend_down_then_everything_arrives(tmp_path: Path, ports: tuple[int, int]) -> None:
    rport, bport = ports
    agent = AgentProcess(CONFIG.format(rport=rport, bport=bport), workdir=tmp_path)
    backend = None
    try:
        agent.start()
        for i in range(30):
            assert send_point(rport, i) == 200
        wait_for(lambda: agent.metric("edgetel_buffer_records", exporter="prometheusremotewrite") == 30)
        time.sleep(0.5)  # > sync_interval
        agent.send(signal.SIGKILL)
        assert agent.proc is not None
        agent.proc.wait(10)
        report = check_buffer(tmp_path / "state" / "buffers" / "prometheusremotewrite")
        assert report.ok and report.records == 30, report.line()

        backend = Backend(bport)
        agent.start()
        wait_for(lambda: len(backend.values) >= 30, timeout=30)
        assert sorted(backend.values) == [float(i) for i in range(30)]
        assert backend.values == sorted(backend.values)  # in order
        wait_for(lambda: agent.metric("edgetel_buffer_records", exporter="prometheusremotewrite") == 0)
        assert agent.stop() == 0
        assert check_buffer(tmp_path / "state" / "buffers" / "prometheusremotewrite").records == 0
    finally:
        agent.kill()
        if backend is not None:
            backend.close()
