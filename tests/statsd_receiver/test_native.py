"""The compiled digest (edgetel._native.statsd) against the Python path: same series, same counts, same output."""

from __future__ import annotations

import logging
import math
import socket
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from hypothesis import given, settings
from hypothesis import strategies as st

from edgetel._native import load
from edgetel.receivers.statsd.aggregator import Aggregator
from edgetel.receivers.statsd.config import HistogramBuckets, StatsdConfig, TimerMapping
from edgetel.telemetry.selfmetrics import Registry

native = load("statsd")
pytestmark = pytest.mark.skipif(native is None, reason="edgetel._native.statsd is not built")
NOW = 1_900_000_000 * 10**9


@pytest.fixture(autouse=True)
def statsd_path() -> str:
    """Overrides conftest's: these tests build both paths themselves."""
    return "both"


good_names = st.sampled_from([b"a", b"b.c", b"api.x", b"t", b"a,k=v", b"a#k=v", b"a[k=v]x"])
names = st.one_of(good_names, st.sampled_from([b"a[k", b"", b"\xff", b"a,k"]))
good_numbers = st.one_of(
    st.integers(0, 10**6).map(lambda i: str(i).encode()),
    st.integers(-(10**4), 10**4).map(lambda i: f"{i / 4}".encode()),
    st.integers(-100, 100).map(lambda i: f"{i:+d}".encode()),
    st.sampled_from([b"-0", b"1e3", b"2.5E-1", b".5", b"5.", b" 7", b"1_0", b"7\r", b"123456789012345678"]),
)
numbers = st.one_of(
    good_numbers,
    st.sampled_from([b"nan", b"inf", b"-inf", b"1e400", b"", b"x", b"1-2", b"..", b"e5", b"0x10", b"\x00"]),
    st.sampled_from([b"1\x002", b"++1", b"+-1", b"\xe9", b"1" * 70, b"1." + b"0" * 70 + b"x"]),
)
good_types = st.sampled_from([b"c", b"g", b"ms", b"h", b"d", b"s", b"c\r", b"g\r", b"ms\r"])
types = st.one_of(good_types, st.sampled_from([b"q", b"", b"C"]))
good_fields = st.lists(
    st.sampled_from([b"@1", b"@0.5", b"@0.25", b"@0.1", b"#k:v", b"#k2:w,flag", b"T1700000000", b"T1700000100",
                     b"c:abc", b"e:ext", b""]),
    max_size=3,
)  # fmt: skip
fields = st.one_of(good_fields, st.lists(st.sampled_from([b"@2", b"@0", b"@x", b"#:x", b"Tx", b"#k:\xff"]), max_size=2))


def _line(name: bytes, values: list[bytes], mtype: bytes, tail: list[bytes]) -> bytes:
    return name + b":" + b":".join(values) + b"|" + b"|".join([mtype, *tail])


good_lines = st.builds(_line, good_names, st.lists(good_numbers, min_size=1, max_size=2), good_types, good_fields)
metric_lines = st.builds(_line, names, st.lists(numbers, min_size=1, max_size=3), types, fields)
other_lines = st.one_of(
    st.sampled_from([b"_e{5,4}:title|text|#k:v", b"_e{5,4}:tit", b"_sc|check|0|#k:v", b"_sc|x|9", b"", b"\r", b" "]),
    st.binary(max_size=30).filter(lambda b: b"\n" not in b),
    st.sampled_from([b"a:1", b"a|c", b":1|c", b"a:1|c:2|c", b"a::1|c", b"a:1||c"]),
)
blobs = st.lists(st.one_of(good_lines, good_lines, metric_lines, other_lines), max_size=40).map(b"\n".join)


def _configs() -> list[StatsdConfig]:
    plain = StatsdConfig(histogram=[HistogramBuckets(match="api.*", buckets=[1, 10, 100])])
    dogstatsd = StatsdConfig(
        gauge_deltas=False,
        timer_histogram_mapping=[
            TimerMapping(statsd_type="distribution", observer_type="summary"),
            TimerMapping(statsd_type="histogram", observer_type="exponential_histogram"),
        ],
    )
    return [plain, dogstatsd]


def _run(native_path: bool, cfg: StatsdConfig, digests: list[list[bytes]]) -> list[Any]:
    reg = Registry()
    agg = Aggregator(reg, "statsd", logging.getLogger("t"), native=native_path)
    assert (agg._table is not None) == native_path
    agg.configure(cfg)
    out: list[Any] = []
    for i, chunk in enumerate(digests):
        for blob in chunk:
            agg.digest(blob, "udp")
        out.append(_canonical(agg.flush(NOW + i * 10**9, force=True)))
        if i == 0:
            agg.configure(cfg)  # a reload between flushes: the state stays, the caches go
    out.append({name: sorted(fam.samples()) for name, fam in _families(reg)})
    return out


def _families(reg: Registry) -> list[tuple[str, Any]]:
    names = [
        "edgetel_statsd_parse_errors_total", "edgetel_statsd_lines_received_total", "edgetel_statsd_lines_parsed_total",
        "edgetel_statsd_events_total", "edgetel_statsd_service_checks_total", "edgetel_statsd_series_dropped_total",
        "edgetel_statsd_series",
    ]  # fmt: skip
    return [(n, reg.get(n)) for n in names if reg.get(n) is not None]


def _canonical(batch: Any) -> dict[tuple[str, str, str], list[Any]]:
    """Points by (metric, kind, attributes), start times dropped (each aggregator stamps its own). A set and a
    gauge of one name share a metric, in series creation order, which differs between the paths: sorted."""
    out: dict[tuple[str, str, str], list[Any]] = {}
    for rm in batch.request.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                for p in getattr(m, kind).data_points:
                    p.start_time_unix_nano = 0
                    d = MessageToDict(p)
                    out.setdefault((m.name + "/" + m.unit, kind, repr(d.pop("attributes", None))), []).append(d)
    return {k: sorted(v, key=repr) for k, v in out.items()}


def _same(a: Any, b: Any) -> bool:
    """Equal, floats within rounding: the compiled path adds line by line, the Python path count x value."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(blobs, max_size=4), min_size=1, max_size=3), st.integers(0, 1))
def test_compiled_and_python_paths_agree(digests: list[list[bytes]], which: int) -> None:
    cfg = _configs()[which]
    fast, slow = _run(True, cfg, digests), _run(False, cfg, digests)
    assert _same(fast, slow), (fast, slow)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=5))
def test_arbitrary_bytes_agree(chunks: list[bytes]) -> None:
    cfg = StatsdConfig()
    fast, slow = _run(True, cfg, [chunks]), _run(False, cfg, [chunks])
    assert _same(fast, slow), (fast, slow)


def test_gauges_in_packet_order_across_paths() -> None:
    digests = [[b"g:5|g\ng:+1|g|T1700000000\ng:x|g\ng:1:+2|g\ng:+1:y|g\ng:-3|g\nh:+4|g\nh:+4|g|#k:v"]]
    fast, slow = _run(True, StatsdConfig(), digests), _run(False, StatsdConfig(), digests)
    assert fast == slow
    assert fast[0][("g/", "gauge", "None")] == [{"timeUnixNano": "1700000000000000000", "asDouble": 0.0}]


def test_table_refuses_bad_resolve_results_and_reentry() -> None:
    assert native is not None
    table = native.Table()
    with pytest.raises(TypeError):
        table.digest(b"a:1|c", lambda n, t: (object(), 1.0, 0))
    with pytest.raises(TypeError):
        table.digest(b"a:1|c", lambda n, t: (native.Acc.__new__(native.Acc), 1.0, 0))
    with pytest.raises(RuntimeError):
        table.digest(b"a:1|c", lambda n, t: table.digest(b"b:1|c", lambda n, t: None))
    with pytest.raises(ZeroDivisionError):
        table.digest(b"a:1|c", lambda n, t: (1 / 0, 1.0, 0))
    assert table.digest(b"a:1|c\n\nb:2|c", lambda n, t: None) == (2, 0, [b"a:1|c", b"b:2|c"])
    with pytest.raises(ValueError):
        native.Acc(object(), 7)


def test_table_is_bounded() -> None:
    assert native is not None

    class S:
        value = 0.0
        ts_ns = 0
        updated = False

    s = S()
    acc = native.Acc(s, 1)
    table = native.Table()
    n = native.MAX_ENTRIES + 10
    received, parsed, rest = table.digest(b"\n".join(b"c%d:1|c" % i for i in range(n)), lambda n, t: (acc, 1.0, 0))
    assert (received, parsed, rest) == (n, n, []) and len(table) <= native.MAX_ENTRIES
    assert table.pending == 1
    table.sync()
    assert s.value == n and s.updated and table.pending == 0
    table.clear()
    n = native.MAX_FALLBACK + 10  # prefixes for the Python path: only so many are remembered
    blob = b"\n".join(b"x%d:1|q" % i for i in range(n))
    assert table.digest(blob, lambda n, t: (None, 0.0, 0))[1:] == (0, blob.split(b"\n"))
    assert len(table) == native.MAX_FALLBACK
    assert table.digest(b"c1:1|c", lambda n, t: (acc, 1.0, 0)) == (1, 1, [])  # prefixes with an Acc still go in


def test_table_clear_survives_reentry_from_a_released_series() -> None:
    """clear() releases Accs, which can run a series' __del__; one that digests into the same table must find
    it empty, not read the keys being freed (a use after free before the fix)."""
    assert native is not None
    table = native.Table()

    class S:
        value = 0.0
        ts_ns = 0
        updated = False

        def __init__(self, line: bytes) -> None:
            self.line = line

        def __del__(self) -> None:
            later.append(table.digest(self.line, lambda n, t: (native.Acc(Plain(), 1), 1.0, 0)))

    class Plain:
        value = 0.0
        ts_ns = 0
        updated = False

    later: list[Any] = []
    lines = [b"x%d:1|c" % i for i in range(5)]
    assert table.digest(b"\n".join(lines), lambda n, t: (native.Acc(S(n + b":1|" + t), 1), 1.0, 0))[:2] == (5, 5)
    table.sync()
    table.clear()
    assert sorted(later) == [(1, 1, [])] * 5 and len(table) == 5  # what the __del__ digests added stays


def test_a_failed_acc_init_leaks_nothing_when_retried() -> None:
    import tracemalloc

    assert native is not None
    acc = native.Acc.__new__(native.Acc)
    bad = [0.0] * 4000 + ["x"]  # fails after the bucket arrays are allocated
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(100):
            with pytest.raises(TypeError):
                acc.__init__(object(), 2, bounds=bad)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 1_000_000  # 64 KiB a call before the fix


def test_acc_bounds_that_change_while_read_are_safe() -> None:
    assert native is not None
    bounds: list[Any] = []

    class Shrinking:
        def __float__(self) -> float:
            bounds.clear()  # read past the list's end (a crash) before the fix
            return 1.0

    bounds.extend([Shrinking()] + [2.0] * 50)
    native.Acc(object(), 2, bounds=bounds)


@pytest.mark.skipif(not hasattr(native, "recv_burst"), reason="recvmmsg is Linux only")
def test_recv_burst() -> None:
    assert native is not None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        tx.connect(rx.getsockname())
        sent = [b"a:1|c", b"x" * 101, b"", b"b:2|c\nc:3|c", b"y" * 100]
        for d in sent:
            tx.send(d)
        stage = bytearray(1000)
        off, packets, oversized, status = native.recv_burst(rx.fileno(), stage, 3, 100, 2048)
        assert (packets, oversized, status) == (4, 1, 0)  # 101 bytes > max_packet 100: dropped
        assert bytes(stage[3:off]) == b"a:1|c\n\nb:2|c\nc:3|c\n" + b"y" * 100 + b"\n"
        for d in sent * 3:
            tx.send(d)
        off, packets, oversized, status = native.recv_burst(rx.fileno(), stage, 0, 100, 3)
        assert (packets + oversized, status) == (3, 2)  # the budget
        off, packets, oversized, status = native.recv_burst(rx.fileno(), stage, 900, 100, 2048)
        assert (off, packets, status) == (900, 0, 1)  # no room for a 101-byte slot after 900 in 1000
        off, packets, oversized, status = native.recv_burst(rx.fileno(), stage, 899, 100, 2048)
        assert packets + oversized == 1 and status == 1
        assert native.recv_burst(-1, stage, 0, 100, 10)[3] < 0  # EBADF
        with pytest.raises(ValueError):
            native.recv_burst(rx.fileno(), stage, 2000, 100, 10)
        with pytest.raises(TypeError):
            native.recv_burst(rx.fileno(), b"readonly", 0, 100, 10)
