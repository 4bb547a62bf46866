"""Real clients (`statsd` and `datadog` PyPI packages) over UDP, TCP and the Unix datagram socket; the
aggregated OTLP output is checked value by value."""

from __future__ import annotations

import asyncio
import socket
import tempfile
from pathlib import Path
from typing import Any

import pytest
import statsd
from datadog.dogstatsd import DogStatsd

from edgetel.receivers.statsd.config import StatsdConfig

from .conftest import points, wait_until

BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]


def _port(rcv: Any, transport: str) -> int:
    if transport == "tcp":
        return int(rcv.tcp._server.sockets[0].getsockname()[1])
    return int(rcv.datagram[0].sock.getsockname()[1])


def _parsed(rcv: Any, transport: str) -> float:
    return rcv.ctx.metrics.value("edgetel_statsd_lines_parsed_total", "statsd", transport)


@pytest.fixture(autouse=True)
def _no_client_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    # Both clients drop samples at random when a sample rate is given; make them always send.
    monkeypatch.setattr("statsd.client.base.random.random", lambda: 0.0)
    monkeypatch.setattr("datadog.dogstatsd.base.random", lambda: 0.0)


def _send_etsy(client: Any) -> None:
    client.incr("jobs")
    client.incr("jobs", 4)
    client.incr("jobs", 1, rate=0.5)  # counts as 2
    client.decr("jobs.failed", 0)
    client.gauge("queue", 10)
    client.gauge("queue", 5, delta=True)  # +5
    client.gauge("queue", -3, delta=True)  # -3
    client.set("users", "alice")
    client.set("users", "bob")
    client.set("users", "alice")
    client.timing("latency", 7)  # ms -> 0.007 s
    client.timing("latency", 120)
    client.timing("latency", 3000, rate=0.25)  # counts 4 times


def _check_etsy(batch: Any) -> None:
    pts = points(batch)
    m, p = pts[("jobs", ())]
    assert m.sum.is_monotonic and m.sum.aggregation_temporality == 2
    assert p.as_double == 7.0
    assert pts[("jobs.failed", ())][1].as_double == 0.0
    assert pts[("queue", ())][1].as_double == 12.0
    assert pts[("users", ())][1].as_int == 2
    m, p = pts[("latency", ())]
    assert m.unit == "s"
    assert list(p.explicit_bounds) == BOUNDS
    counts = [0] * 12
    counts[BOUNDS.index(0.01)] += 1  # 0.007
    counts[BOUNDS.index(0.25)] += 1  # 0.12
    counts[BOUNDS.index(5.0)] += 4  # 3.0, sample rate 1/4
    assert list(p.bucket_counts) == counts
    assert p.count == 6
    assert p.sum == pytest.approx(0.007 + 0.12 + 4 * 3.0)


async def test_statsd_client_udp(start_receiver: Any) -> None:
    rcv, sink = await start_receiver()
    client = statsd.StatsClient("127.0.0.1", _port(rcv, "udp"))
    _send_etsy(client)
    with client.pipeline() as pipe:  # one multi-line packet
        pipe.incr("jobs", 10)
        pipe.timing("latency", 1)
    await wait_until(lambda: (rcv.drain(), _parsed(rcv, "udp"))[1] == 15)
    await rcv.flush(force=True)
    batch = sink.batches[-1]
    pts = points(batch)
    assert pts[("jobs", ())][1].as_double == 17.0
    assert pts[("latency", ())][1].count == 7
    assert rcv.ctx.metrics.value("edgetel_statsd_packets_received_total", "statsd", "udp") == 14


async def test_statsd_client_tcp(start_receiver: Any) -> None:
    rcv, sink = await start_receiver(tcp_endpoint="127.0.0.1:0")
    client = statsd.TCPStatsClient("127.0.0.1", _port(rcv, "tcp"), timeout=5)
    _send_etsy(client)
    client.close()
    await wait_until(lambda: (rcv.drain(), _parsed(rcv, "tcp"))[1] == 13)
    await rcv.flush(force=True)
    _check_etsy(sink.batches[-1])


async def test_counters_are_cumulative_across_flushes(start_receiver: Any) -> None:
    rcv, sink = await start_receiver()
    client = statsd.StatsClient("127.0.0.1", _port(rcv, "udp"))
    client.incr("hits", 3)
    client.set("who", "a")
    await wait_until(lambda: (rcv.drain(), _parsed(rcv, "udp"))[1] == 2)
    await rcv.flush(force=True)
    client.incr("hits", 2)
    await wait_until(lambda: (rcv.drain(), _parsed(rcv, "udp"))[1] == 3)
    await rcv.flush(force=True)
    first, second = points(sink.batches[0]), points(sink.batches[1])
    assert first[("hits", ())][1].as_double == 3.0
    assert second[("hits", ())][1].as_double == 5.0
    start = first[("hits", ())][1].start_time_unix_nano
    assert start and second[("hits", ())][1].start_time_unix_nano == start
    assert second[("hits", ())][1].time_unix_nano > first[("hits", ())][1].time_unix_nano
    assert second[("who", ())][1].as_int == 0  # a set counts the unique values of its interval


def _send_dog(client: DogStatsd) -> None:
    client.increment("dd.requests", tags=["env:prod", "route:/a"])
    client.increment("dd.requests", 2, tags=["env:prod", "route:/a"], sample_rate=0.5)  # 4
    client.decrement("dd.requests", 0, tags=["env:dev"])
    client.gauge("dd.temp", 21.5, tags=["room:a"])
    client.gauge("dd.temp", 22.5, tags=["room:a"])  # last value wins
    client.histogram("dd.size", 3, tags=["flag"])
    client.histogram("dd.size", 700)
    client.distribution("dd.dist", 0.2)
    client.timing("dd.t", 250)  # ms
    client.set("dd.visitors", "x")
    client.set("dd.visitors", "y")
    client.gauge_with_timestamp("dd.ts", 5, 1_700_000_000)
    client.event("Deploy", "version 2 is out", alert_type="info", tags=["env:prod"])
    client.service_check("dd.check", DogStatsd.OK, tags=["env:prod"], message="fine")


DOG_LINES = 14


def _check_dog(batch: Any) -> None:
    pts = points(batch)
    assert pts[("dd.requests", (("env", "prod"), ("route", "/a")))][1].as_double == 5.0
    assert pts[("dd.requests", (("env", "dev"),))][1].as_double == 0.0
    assert pts[("dd.temp", (("room", "a"),))][1].as_double == 22.5
    m, p = pts[("dd.size", (("flag", ""),))]
    assert m.unit == "" and p.count == 1 and p.sum == 3.0
    assert pts[("dd.size", ())][1].bucket_counts[-1] == 1  # 700 > 10: the +Inf bucket
    assert pts[("dd.dist", ())][1].bucket_counts[BOUNDS.index(0.25)] == 1
    m, p = pts[("dd.t", ())]
    assert m.unit == "s" and p.sum == pytest.approx(0.25)
    assert pts[("dd.visitors", ())][1].as_int == 2
    p = pts[("dd.ts", ())][1]
    assert p.as_double == 5.0 and p.time_unix_nano == 1_700_000_000 * 10**9


def _dog(**kw: Any) -> DogStatsd:
    return DogStatsd(disable_telemetry=True, origin_detection_enabled=False, **kw)


async def test_dogstatsd_udp(start_receiver: Any) -> None:
    rcv, sink = await start_receiver()
    client = _dog(host="127.0.0.1", port=_port(rcv, "udp"))
    _send_dog(client)
    client.close_socket()
    await wait_until(lambda: (rcv.drain(), _parsed(rcv, "udp"))[1] == DOG_LINES)
    await rcv.flush(force=True)
    _check_dog(sink.batches[-1])
    assert rcv.ctx.metrics.value("edgetel_statsd_events_total", "statsd") == 1
    assert rcv.ctx.metrics.value("edgetel_statsd_service_checks_total", "statsd") == 1


async def test_dogstatsd_unix_socket(start_receiver: Any) -> None:
    path = Path(tempfile.mkdtemp(prefix="edgetel-statsd-")) / "statsd.sock"
    cfg = StatsdConfig(endpoint="", unix_socket=str(path), socket_permissions="0600")
    cfg.aggregation_interval = 3600  # type: ignore[assignment]
    rcv, sink = await start_receiver(cfg)
    assert path.stat().st_mode & 0o777 == 0o600
    # Linux queues at most net.unix.max_dgram_qlen (10) datagrams per Unix socket: send from a thread with a
    # blocking client so the receiver (on this loop) drains meanwhile.
    client = _dog(socket_path=str(path), socket_timeout=5)
    await asyncio.to_thread(_send_dog, client)
    client.close_socket()
    await wait_until(lambda: (rcv.drain(), _parsed(rcv, "unix"))[1] == DOG_LINES)
    await rcv.flush(force=True)
    _check_dog(sink.batches[-1])


async def test_dogstatsd_container_id_and_gauge_meaning(start_receiver: Any) -> None:
    rcv, sink = await start_receiver(gauge_deltas=False)
    client = _dog(host="127.0.0.1", port=_port(rcv, "udp"), container_id="abc123")
    client.gauge("g", 10)
    client.increment("c")
    client.close_socket()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"g:+4|g", ("127.0.0.1", _port(rcv, "udp")))  # DogStatsD meaning: the value 4
    await wait_until(lambda: (rcv.drain(), _parsed(rcv, "udp"))[1] == 3)
    await rcv.flush(force=True)
    pts = points(sink.batches[-1])
    assert pts[("c", (("container.id", "abc123"),))][1].as_double == 1.0
    assert pts[("g", ())][1].as_double == 4.0
    assert pts[("g", (("container.id", "abc123"),))][1].as_double == 10.0
