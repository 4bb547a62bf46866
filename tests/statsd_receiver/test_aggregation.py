"""Aggregation semantics: gauges in packet order, limits, expiry, observers, reloads, backpressure."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

from edgetel.component.ids import Signal
from edgetel.receivers.statsd.aggregator import Aggregator
from edgetel.receivers.statsd.config import HistogramBuckets, StatsdConfig, TimerMapping
from edgetel.receivers.statsd.receiver import StatsdReceiver
from edgetel.telemetry.selfmetrics import Registry

from .conftest import Collect, make_ctx, points, wait_until


def _agg(**kw: Any) -> tuple[Aggregator, Registry]:
    reg = Registry()
    agg = Aggregator(reg, "statsd", logging.getLogger("t"))
    agg.configure(StatsdConfig(**kw))
    return agg, reg


def _value(agg: Aggregator, name: str, attrs: tuple[tuple[str, str], ...] = ()) -> Any:
    return points(agg.flush(force=True))[(name, attrs)][1]


@pytest.mark.parametrize(
    ("packet", "expected"),
    [
        (b"g:10|g\ng:+1|g\ng:+1|g\ng:20|g\ng:+2|g", 22.0),
        (b"g:+1|g\ng:5|g", 5.0),
        (b"g:5|g\ng:+1|g\ng:5|g\ng:+1|g", 6.0),
        (b"g:5|g\ng:7|g\ng:5|g", 5.0),
        (b"g:-1|g\ng:-1|g\ng:+3|g", 1.0),
        (b"g:1:+2|g", 3.0),
        (b"g:3|g|@0.5", 3.0),  # a sample rate does not scale gauges
    ],
)
def test_gauges_in_packet_order(packet: bytes, expected: float) -> None:
    agg, _ = _agg()
    agg.digest(packet, "udp")
    assert _value(agg, "g").as_double == expected


def test_gauge_deltas_apply_to_previous_digests_and_can_be_off() -> None:
    agg, _ = _agg()
    agg.digest(b"g:10|g", "udp")
    agg.digest(b"g:-4|g\ng:-4|g", "udp")
    assert _value(agg, "g").as_double == 2.0
    agg, _ = _agg(gauge_deltas=False)
    agg.digest(b"g:10|g\ng:-4|g", "udp")
    assert _value(agg, "g").as_double == -4.0


def test_identical_lines_and_sample_rates() -> None:
    agg, reg = _agg()
    agg.digest(b"\n".join([b"c:1|c|@0.1"] * 50 + [b"c:2|c"] * 3), "udp")
    assert _value(agg, "c").as_double == pytest.approx(506.0)
    assert reg.value("edgetel_statsd_lines_parsed_total", "statsd", "udp") == 53


def test_errors_are_counted_and_the_rest_kept() -> None:
    agg, reg = _agg()
    agg.digest(b"a:1|c\na:x|c\na:nan|c\na:-1|c\nb:1|q\n:1|c\nt:-5|ms\n\xff\xfe:1|c\nok:2|c\r\n\n", "udp")
    pts = points(agg.flush(force=True))
    assert pts[("a", ())][1].as_double == 1.0 and pts[("ok", ())][1].as_double == 2.0
    assert ("t", ()) not in pts  # a series whose only line was invalid says nothing
    agg.digest(b"g:x|g", "udp")
    assert ("g", ()) not in points(agg.flush(force=True))
    err = {k[1]: v for k, v in reg.get("edgetel_statsd_parse_errors_total").samples()}  # type: ignore[union-attr]
    assert err == {
        "invalid_value": 3, "negative_counter": 1, "invalid_type": 1, "empty_name": 1,
        "negative_timer": 1, "invalid_utf8": 1,
    }  # fmt: skip


def test_max_series() -> None:
    agg, reg = _agg(max_series=2)
    agg.digest(b"a:1|c\nb:1|c", "udp")
    agg.digest(b"c:1|c\nc:1|c\nd:1|g", "udp")
    assert set(points(agg.flush(force=True))) == {("a", ()), ("b", ())}
    assert reg.value("edgetel_statsd_series_dropped_total", "statsd") == 3
    assert reg.value("edgetel_statsd_series", "statsd") == 2


def test_quiet_series_expire_with_a_staleness_marker() -> None:
    agg, reg = _agg(series_ttl=60, aggregation_interval=10)
    t0 = 1_800_000_000 * 10**9
    agg.digest(b"a:1|c\nb:1|c", "udp")
    first_start = points(agg.flush(t0))[("a", ())][1].start_time_unix_nano
    agg.digest(b"b:1|c", "udp")
    agg.flush(t0 + 30 * 10**9)
    pts = points(agg.flush(t0 + 61 * 10**9))
    assert pts[("a", ())][1].flags == 1  # no recorded value: exporters mark the series stale
    assert pts[("b", ())][1].flags == 0 and pts[("b", ())][1].as_double == 2.0
    assert set(points(agg.flush(t0 + 85 * 10**9))) == {("b", ())}
    assert reg.value("edgetel_statsd_series_expired_total", "statsd") == 1
    agg.digest(b"a:1|c", "udp")  # back: a new series, a new start time (a counter reset)
    p = points(agg.flush(t0 + 95 * 10**9))[("a", ())][1]
    assert p.as_double == 1.0 and p.start_time_unix_nano > first_start


def test_observers() -> None:
    cfg = StatsdConfig(
        histogram=[HistogramBuckets(match="api.*", buckets=[1, 10, 100])],
        timer_histogram_mapping=[
            TimerMapping(statsd_type="distribution", observer_type="summary"),
            TimerMapping(statsd_type="histogram", observer_type="exponential_histogram"),
        ],
    )
    reg = Registry()
    agg = Aggregator(reg, "statsd", logging.getLogger("t"))
    agg.configure(cfg)
    agg.digest(
        b"api.size:5|ms\napi.size:5000|ms\nd:" + b":".join(str(i).encode() for i in range(1, 101)) + b"|d", "udp"
    )
    agg.digest(b"h:1|h\nh:2|h\nh:4|h\nh:0|h\nh:-8|h", "udp")
    pts = points(agg.flush(force=True))
    p = pts[("api.size", ())][1]
    assert list(p.explicit_bounds) == [1, 10, 100] and list(p.bucket_counts) == [1, 1, 0, 0]
    m, p = pts[("d", ())]
    assert m.WhichOneof("data") == "summary" and p.count == 100 and p.sum == 5050
    q = {v.quantile: v.value for v in p.quantile_values}
    assert q[0.5] == pytest.approx(50.5) and q[0.99] == pytest.approx(99.01)
    m, p = pts[("h", ())]
    assert m.WhichOneof("data") == "exponential_histogram"
    assert p.count == 5 and p.zero_count == 1 and p.sum == -1
    assert sum(p.positive.bucket_counts) == 3 and sum(p.negative.bucket_counts) == 1
    base = 2 ** (2**-p.scale)
    for v in (1, 2, 4):  # each value lies in (base**index, base**(index+1)]
        idx = p.positive.offset + next(
            i
            for i, c in enumerate(p.positive.bucket_counts)
            if c
            and base ** (p.positive.offset + i) < v * 1.0000001
            and v <= base ** (p.positive.offset + i + 1) * 1.0000001
        )
        assert base**idx < v * 1.0000001


def test_exponential_histogram_stays_within_max_size() -> None:
    cfg = StatsdConfig(
        timer_histogram_mapping=[TimerMapping(statsd_type="histogram", observer_type="exponential_histogram")]
    )
    cfg.timer_histogram_mapping[0].histogram.max_size = 20
    agg = Aggregator(Registry(), "statsd", logging.getLogger("t"))
    agg.configure(cfg)
    agg.digest(b"\n".join(f"h:{10**e}|h".encode() for e in range(-6, 7)), "udp")
    p = points(agg.flush(force=True))[("h", ())][1]
    assert len(p.positive.bucket_counts) <= 20 and sum(p.positive.bucket_counts) == 13


async def test_reload_keeps_cumulative_state_and_the_socket() -> None:
    state: dict[str, Any] = {}
    ctx = make_ctx(state)
    cfg = StatsdConfig(endpoint="127.0.0.1:0", aggregation_interval=3600)  # type: ignore[arg-type]
    old_sink, new_sink = Collect(), Collect()
    old = StatsdReceiver(ctx, cfg, {Signal.METRICS: old_sink})
    await old.start()
    port = old.datagram[0].sock.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"hits:5|c", ("127.0.0.1", port))
        await wait_until(
            lambda: (old.drain(), ctx.metrics.value("edgetel_statsd_lines_parsed_total", "statsd", "udp"))[1] == 1
        )
        await old.flush(force=True)
        # A reload: the agent starts the new instance (same id, same state, same pooled socket) first.
        ctx.sockets.begin_generation()
        new = StatsdReceiver(ctx, cfg, {Signal.METRICS: new_sink})
        await new.start()
        ctx.sockets.end_generation()
        assert new.datagram[0].sock.getsockname()[1] == port
        s.sendto(b"hits:2|c", ("127.0.0.1", port))
        await old.shutdown()  # no final flush: the new instance holds the state
        assert len(old_sink.batches) == 1
        s.sendto(b"hits:3|c", ("127.0.0.1", port))
        await wait_until(
            lambda: (new.drain(), ctx.metrics.value("edgetel_statsd_lines_parsed_total", "statsd", "udp"))[1] == 3
        )
    await new.flush(force=True)
    before = points(old_sink.batches[0])[("hits", ())][1]
    after = points(new_sink.batches[0])[("hits", ())][1]
    assert after.as_double == 10.0 and after.start_time_unix_nano == before.start_time_unix_nano
    await new.shutdown()  # the last instance flushes once more
    assert len(new_sink.batches) == 2
    ctx.sockets.close_all()


async def test_backpressure_keeps_the_state(start_receiver: Any) -> None:
    rcv, sink = await start_receiver()
    sink.refuse = 1
    rcv.agg.digest(b"c:4|c", "udp")
    await rcv.flush(force=True)
    assert rcv.ctx.metrics.value("edgetel_receiver_refused_metric_points_total", "statsd", "statsd") == 1
    rcv.agg.digest(b"c:1|c", "udp")
    await rcv.flush(force=True)
    assert points(sink.batches[0])[("c", ())][1].as_double == 5.0
    assert rcv.ctx.metrics.value("edgetel_receiver_accepted_metric_points_total", "statsd", "statsd") == 1


async def test_oversized_datagram(start_receiver: Any) -> None:
    rcv, _ = await start_receiver(max_packet_size=512)
    port = rcv.datagram[0].sock.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"big:1|c\n" * 100, ("127.0.0.1", port))
        s.sendto(b"small:1|c", ("127.0.0.1", port))
    reg = rcv.ctx.metrics
    await wait_until(lambda: (rcv.drain(), reg.value("edgetel_statsd_lines_parsed_total", "statsd", "udp"))[1] == 1)
    assert reg.value("edgetel_statsd_oversized_packets_total", "statsd", "udp") == 1


async def test_tcp_limits(start_receiver: Any) -> None:
    cfg = StatsdConfig(
        endpoint="",
        tcp_endpoint="127.0.0.1:0",
        tcp_max_line_length=64,
        tcp_max_connections=1,
        tcp_idle_timeout=0.3,  # type: ignore[arg-type]
    )
    cfg.aggregation_interval = 3600  # type: ignore[assignment]
    rcv, sink = await start_receiver(cfg)
    reg = rcv.ctx.metrics
    port = rcv.tcp._server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"a:1|c\n" + b"x" * 100 + b"\nb:")  # a too-long line is dropped up to its newline
    await writer.drain()
    writer.write(b"2|c\nc:3")  # `b:2|c` split across reads; `c:3` completes only at close... not here
    await writer.drain()
    r2, w2 = await asyncio.open_connection("127.0.0.1", port)  # over the connection limit: closed
    assert await asyncio.wait_for(r2.read(), 5) == b""
    w2.close()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # idle timeout closes the first connection
    writer.close()
    await wait_until(lambda: (rcv.drain(), reg.value("edgetel_statsd_lines_parsed_total", "statsd", "tcp"))[1] == 2)
    assert reg.value("edgetel_statsd_oversized_packets_total", "statsd", "tcp") == 1
    assert reg.value("edgetel_statsd_tcp_connections_refused_total", "statsd") == 1
    await rcv.flush(force=True)
    pts = points(sink.batches[-1])
    assert pts[("a", ())][1].as_double == 1 and pts[("b", ())][1].as_double == 2
    assert ("c", ()) not in pts  # `c:3` had no type: the idle close counted it as an error


async def test_many_datagrams_fill_and_drain_the_stage(start_receiver: Any) -> None:
    rcv, sink = await start_receiver(max_packet_size=1000)
    port = rcv.datagram[0].sock.getsockname()[1]
    packet = b"\n".join([b"many:1|c", b"t:250|ms", b"g:+1|g"] * 33)  # 99 lines, ~600 bytes
    n = 3000  # ~1.8 MB: more than one staging buffer, more than one burst
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(n):
            s.sendto(packet, ("127.0.0.1", port))
            if i % 100 == 99:  # let the receiver read: a default (unprivileged) receive buffer is ~200 KiB
                await asyncio.sleep(0.005)
    reg = rcv.ctx.metrics
    await wait_until(
        lambda: (rcv.drain(), reg.value("edgetel_statsd_lines_parsed_total", "statsd", "udp"))[1] >= 99 * n, 20
    )
    await rcv.flush(force=True)
    pts = points(sink.batches[-1])
    assert pts[("many", ())][1].as_double == 33 * n and pts[("g", ())][1].as_double == 33 * n
    assert pts[("t", ())][1].count == 33 * n and reg.value("edgetel_statsd_packets_received_total", "statsd", "udp") == n
