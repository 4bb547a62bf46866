"""Line parsing: tag styles, DogStatsD fields, events, service checks, and arbitrary bytes (hypothesis)."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgetel.receivers.statsd.aggregator import Aggregator
from edgetel.receivers.statsd.config import StatsdConfig
from edgetel.receivers.statsd.parser import LineError, classify, parse_prefix, parse_values
from edgetel.telemetry.selfmetrics import Registry

from .conftest import points


@pytest.mark.parametrize(
    ("name", "tail", "expected"),
    [
        (b"a.b", b"c", ("c", "a.b", (), 1.0, 0)),
        (b"a", b"ms|@0.25|#env:prod,flag", ("ms", "a", (("env", "prod"), ("flag", "")), 0.25, 0)),
        (
            b"a",
            b"c|#k:v:w|c:abc123|T1700000000",
            ("c", "a", (("container.id", "abc123"), ("k", "v:w")), 1.0, 1700000000 * 10**9),
        ),
        (b"a", b"d|T1700000000", ("d", "a", (), 1.0, 0)),  # T only on counts and gauges
        (b"req,host=a,dc=x", b"c", ("c", "req", (("dc", "x"), ("host", "a")), 1.0, 0)),  # InfluxDB
        (b"req#host=a", b"g", ("g", "req", (("host", "a"),), 1.0, 0)),  # Librato
        (b"req[host=a].count", b"c", ("c", "req.count", (("host", "a"),), 1.0, 0)),  # SignalFx
        (b"a", b"s|e:ext|card:low", ("s", "a", (), 1.0, 0)),  # unknown DogStatsD fields ignored
        (b"a", b"h\r", ("h", "a", (), 1.0, 0)),
    ],
)
def test_parse_prefix(name: bytes, tail: bytes, expected: tuple[object, ...]) -> None:
    p = parse_prefix(name, tail)
    assert (p.type, p.name, p.attrs, p.rate, p.timestamp_ns) == expected


@pytest.mark.parametrize(
    ("name", "tail", "reason"),
    [
        (b"a", b"x", "invalid_type"),
        (b"a", b"", "invalid_type"),
        (b"a", b"c|@0", "invalid_sample_rate"),
        (b"a", b"c|@2", "invalid_sample_rate"),
        (b"a", b"c|@x", "invalid_sample_rate"),
        (b"a", b"c|Tx", "invalid_timestamp"),
        (b"a", b"c|#:v", "invalid_tag"),
        (b"a,novalue", b"c", "invalid_tag"),
        (b"a[k=v", b"c", "invalid_tag"),
        (b" ", b"c", "empty_name"),
        (b"\xff", b"c", "invalid_utf8"),
    ],
)
def test_parse_prefix_errors(name: bytes, tail: bytes, reason: str) -> None:
    with pytest.raises(LineError) as e:
        parse_prefix(name, tail)
    assert e.value.reason == reason


def test_values() -> None:
    assert parse_values(b"1:2.5:-3") == [1.0, 2.5, -3.0]
    for bad in (b"nan", b"inf", b"-Infinity", b"", b"x"):
        with pytest.raises(LineError):
            parse_values(bad)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (b"_e{5,4}:title|text", "event"),
        (b"_e{5,4}:title|text|d:1700000000|h:host|p:low|t:error|#a:b", "event"),
        (b"_sc|check|0", "service_check"),
        (b"_sc|check|2|d:1|h:x|#a:b|m:broken: it is", "service_check"),
    ],
)
def test_events_and_checks(line: bytes, kind: str) -> None:
    assert classify(line) == kind


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"_e{9,4}:title|text", "invalid_event"),
        (b"_e{x}:t|t", "invalid_event"),
        (b"_sc|check|7", "invalid_service_check"),
        (b"_sc||0", "invalid_service_check"),
        (b"nocolon", "missing_value"),
        (b"a:1", "missing_type"),
        (b":1|c", "empty_name"),
    ],
)
def test_classify_errors(line: bytes, reason: str) -> None:
    with pytest.raises(LineError) as e:
        classify(line)
    assert e.value.reason == reason


def _agg() -> tuple[Aggregator, Registry]:
    reg = Registry()
    agg = Aggregator(reg, "statsd", logging.getLogger("t"))
    agg.configure(StatsdConfig())
    return agg, reg


def _accounted(reg: Registry) -> float:
    fam = reg.get("edgetel_statsd_parse_errors_total")
    errors = sum(v for _, v in fam.samples()) if fam else 0.0
    return reg.value("edgetel_statsd_lines_parsed_total", "statsd", "udp") + errors


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    agg, reg = _agg()
    agg.digest(data, "udp")
    agg.flush(force=True)
    received = reg.value("edgetel_statsd_lines_received_total", "statsd", "udp")
    assert received == len([x for x in data.split(b"\n") if x])
    assert _accounted(reg) == received  # every line is either parsed or counted as an error


garbage = st.binary(max_size=60).filter(lambda b: b"\n" not in b and not b.startswith(b"ok"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 1000), garbage), max_size=40))
def test_well_formed_lines_in_garbage_are_counted_exactly(items: list[tuple[int, int, bytes]]) -> None:
    agg, _ = _agg()
    expected: dict[str, int] = {}
    lines = []
    for n, value, junk in items:
        lines.append(f"ok.{n}:{value}|c|#k:v".encode())
        lines.append(junk)
        expected[f"ok.{n}"] = expected.get(f"ok.{n}", 0) + value
    agg.digest(b"\n".join(lines), "udp")
    batch = agg.flush(force=True)
    got = {name: p.as_double for (name, attrs), (_, p) in points(batch).items() if name.startswith("ok.")}
    assert got == {k: float(v) for k, v in expected.items()}
