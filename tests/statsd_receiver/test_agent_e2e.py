"""End to end: `edgetel run` with a statsd receiver and the file exporter, real clients, a SIGHUP reload."""

from __future__ import annotations

import signal
import socket
from pathlib import Path
from typing import Any

import statsd
from datadog.dogstatsd import DogStatsd

from edgetel.component.ids import Signal
from edgetel.pdata import otlpjson
from tests.agentproc import AgentProcess, free_port, wait_for

from .conftest import points

CONFIG = """
receivers:
  statsd:
    endpoint: 127.0.0.1:{udp}
    tcp_endpoint: 127.0.0.1:{tcp}
    unix_socket: {sock}
    aggregation_interval: {interval}
    histogram: [{{match: "api.*", buckets: [0.1, 1]}}]
processors:
  batch: {{timeout: 50ms}}
exporters:
  file: {{path: "{out}"}}
service:
  pipelines:
    metrics: {{receivers: [statsd], processors: [batch], exporters: [file]}}
  admin: {{endpoint: "{{admin}}"}}
"""


def latest(out: Path) -> dict[Any, Any]:
    """The last point of every series written so far."""
    found: dict[Any, Any] = {}
    if out.exists():
        for line in out.read_bytes().splitlines():
            found.update(points(otlpjson.decode(line, Signal.METRICS)))  # type: ignore[arg-type]
    return found


def test_agent_statsd_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "metrics.jsonl"
    udp, tcp, sock = free_port(socket.SOCK_DGRAM), free_port(), tmp_path / "statsd.sock"
    text = CONFIG.format(udp=udp, tcp=tcp, sock=sock, out=out, interval="300ms")
    with AgentProcess(text, workdir=tmp_path) as agent:
        client = statsd.StatsClient("127.0.0.1", udp)
        client.incr("jobs", 3)
        client.timing("api.get", 50)  # 0.05 s
        client.gauge("queue", 7)
        tcp_client = statsd.TCPStatsClient("127.0.0.1", tcp, timeout=5)
        tcp_client.incr("jobs", 2)
        tcp_client.close()
        dog = DogStatsd(socket_path=str(sock), disable_telemetry=True, origin_detection_enabled=False, socket_timeout=5)
        dog.increment("dd.hits", 4, tags=["env:prod"])
        dog.set("dd.users", "u1")
        dog.close_socket()
        # Three sockets, read independently: wait until every line has been flushed, not only the counter's.
        expected = [("jobs", ()), ("api.get", ()), ("queue", ()), ("dd.hits", (("env", "prod"),))]

        def flushed() -> bool:
            pts = latest(out)
            return all(key in pts for key in expected) and pts[("jobs", ())][1].as_double == 5.0

        wait_for(flushed)
        pts = latest(out)
        start = pts[("jobs", ())][1].start_time_unix_nano
        m, p = pts[("api.get", ())]
        assert m.unit == "s" and list(p.explicit_bounds) == [0.1, 1] and list(p.bucket_counts) == [1, 0, 0]
        assert pts[("queue", ())][1].as_double == 7.0
        assert pts[("dd.hits", (("env", "prod"),))][1].as_double == 4.0

        # A reload keeps counters cumulative (same start time) and the sockets open.
        agent.write_config(text.replace("aggregation_interval: 300ms", "aggregation_interval: 200ms"))
        agent.send(signal.SIGHUP)
        wait_for(lambda: agent.metric("edgetel_config_reloads_total", result="ok") >= 1)
        client.incr("jobs", 10)
        wait_for(lambda: latest(out)[("jobs", ())][1].as_double == 15.0)
        assert latest(out)[("jobs", ())][1].start_time_unix_nano == start
        assert agent.metric("edgetel_statsd_lines_parsed_total", receiver="statsd", transport="udp") == 4
        assert agent.metric("edgetel_statsd_lines_parsed_total", receiver="statsd", transport="unix") == 2
        assert agent.metric("edgetel_statsd_lines_parsed_total", receiver="statsd", transport="tcp") == 1
        client.incr("jobs", 1)
        assert agent.stop(signal.SIGTERM) == 0
    # The final flush at shutdown carried the last line.
    assert latest(out)[("jobs", ())][1].as_double == 16.0
