"""The OTLP -> Prometheus naming rules, table by table (OpenTelemetry compatibility spec, Collector behaviour)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgetel.exporters.prometheusremotewrite import naming as nm
from edgetel.exporters.prometheusremotewrite.native import spans_and_deltas

# (name, unit, kind, expected)
NAMES = [
    # unit suffixes
    ("system.memory.usage", "By", nm.GAUGE, "system_memory_usage_bytes"),
    ("request.duration", "s", nm.HISTOGRAM, "request_duration_seconds"),
    ("request.duration", "ms", nm.HISTOGRAM, "request_duration_milliseconds"),
    ("uptime", "d", nm.GAUGE, "uptime_days"),
    ("t", "h", nm.GAUGE, "t_hours"),
    ("t", "min", nm.GAUGE, "t_minutes"),
    ("t", "us", nm.GAUGE, "t_microseconds"),
    ("t", "ns", nm.GAUGE, "t_nanoseconds"),
    ("mem", "KiBy", nm.GAUGE, "mem_kibibytes"),
    ("mem", "MiBy", nm.GAUGE, "mem_mebibytes"),
    ("mem", "GiBy", nm.GAUGE, "mem_gibibytes"),
    ("mem", "TiBy", nm.GAUGE, "mem_tibibytes"),
    ("mem", "KBy", nm.GAUGE, "mem_kilobytes"),
    ("mem", "MBy", nm.GAUGE, "mem_megabytes"),
    ("mem", "GBy", nm.GAUGE, "mem_gigabytes"),
    ("mem", "TBy", nm.GAUGE, "mem_terabytes"),
    ("len", "m", nm.GAUGE, "len_meters"),
    ("v", "V", nm.GAUGE, "v_volts"),
    ("i", "A", nm.GAUGE, "i_amperes"),
    ("e", "J", nm.COUNTER, "e_joules_total"),
    ("p", "W", nm.GAUGE, "p_watts"),
    ("w", "g", nm.GAUGE, "w_grams"),
    ("temp", "Cel", nm.GAUGE, "temp_celsius"),
    ("f", "Hz", nm.GAUGE, "f_hertz"),
    ("disk.used", "%", nm.GAUGE, "disk_used_percent"),
    ("custom", "widgets", nm.GAUGE, "custom_widgets"),
    # per-units
    ("net.io", "By/s", nm.GAUGE, "net_io_bytes_per_second"),
    ("x", "m/s", nm.GAUGE, "x_meters_per_second"),
    ("x", "1/m", nm.GAUGE, "x_per_minute"),
    ("x", "1/min", nm.GAUGE, "x_per_min"),  # per-units are s m h d w mo y; others are kept as written
    ("x", "{req}/h", nm.GAUGE, "x_per_hour"),
    ("x", "By/d", nm.GAUGE, "x_bytes_per_day"),
    ("x", "By/w", nm.GAUGE, "x_bytes_per_week"),
    ("x", "By/mo", nm.GAUGE, "x_bytes_per_month"),
    ("x", "By/y", nm.GAUGE, "x_bytes_per_year"),
    # annotations in braces add nothing; unit 1
    ("http.requests", "{request}", nm.COUNTER, "http_requests_total"),
    ("cpu.utilization", "1", nm.GAUGE, "cpu_utilization_ratio"),
    ("cpu.utilization", "1", nm.UPDOWN, "cpu_utilization"),
    ("hits", "1", nm.COUNTER, "hits_total"),
    ("disk.ratio", "1", nm.GAUGE, "disk_ratio"),  # not doubled
    # _total: moved to the end, not doubled; only for monotonic sums
    ("requests_total", "", nm.COUNTER, "requests_total"),
    ("total.requests", "", nm.COUNTER, "requests_total"),
    ("queue.size", "", nm.UPDOWN, "queue_size"),
    ("errors_total", "", nm.GAUGE, "errors_total"),
    # unit already in the name: not repeated; unit before _total
    ("process.cpu.seconds", "s", nm.COUNTER, "process_cpu_seconds_total"),
    ("io", "By", nm.COUNTER, "io_bytes_total"),
    # names already in Prometheus form with an empty unit pass through unchanged
    ("node_cpu_seconds_total", "", nm.COUNTER, "node_cpu_seconds_total"),
    ("node_memory_MemTotal_bytes", "", nm.GAUGE, "node_memory_MemTotal_bytes"),
    ("node_network_receive_bytes_total", "", nm.COUNTER, "node_network_receive_bytes_total"),
    ("node_load1", "", nm.GAUGE, "node_load1"),
    ("node_filesystem_avail_bytes", "", nm.GAUGE, "node_filesystem_avail_bytes"),
    # invalid characters, leading digit
    ("my-metric/name", "", nm.GAUGE, "my_metric_name"),
    ("2xx.count", "", nm.GAUGE, "_2xx_count"),
    ("a..b__c", "", nm.GAUGE, "a_b_c"),
]


@pytest.mark.parametrize(("name", "unit", "kind", "expected"), NAMES)
def test_metric_names(name: str, unit: str, kind: int, expected: str) -> None:
    assert nm.metric_name(name, unit, kind) == expected


@pytest.mark.parametrize(
    ("name", "unit", "kind", "namespace", "suffixes", "expected"),
    [
        ("http.requests", "{request}", nm.COUNTER, "edge", True, "edge_http_requests_total"),
        ("http.requests", "s", nm.COUNTER, "", False, "http.requests".replace(".", "_")),
        ("a:b.c", "By", nm.GAUGE, "", False, "a:b_c"),
        ("1a", "", nm.GAUGE, "", False, "_1a"),
    ],
)
def test_namespace_and_no_suffixes(
    name: str, unit: str, kind: int, namespace: str, suffixes: bool, expected: str
) -> None:
    assert nm.metric_name(name, unit, kind, suffixes, namespace) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("http.method", "http_method"),
        ("host.name", "host_name"),
        ("already_fine", "already_fine"),
        ("UPPER.Case", "UPPER_Case"),
        ("1st", "key_1st"),
        ("_private", "key_private"),
        ("__reserved__", "key_reserved_"),
        ("a--b..c", "a_b_c"),
        ("a__b", "a_b"),
        ("émoji✓", "key_moji_"),
        ("", ""),
    ],
)
def test_label_names(key: str, expected: str) -> None:
    assert nm.label_name(key) == expected


@given(st.text(min_size=1, max_size=40))
def test_label_names_are_always_valid_and_never_reserved(key: str) -> None:
    out = nm.label_name(key)
    if out:
        assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", out)
        assert not out.startswith("__")
        assert "__" not in out


@given(
    st.text(min_size=1, max_size=40),
    st.sampled_from(["", "s", "By", "1", "{x}", "By/s", "%"]),
    st.sampled_from([nm.GAUGE, nm.COUNTER, nm.UPDOWN, nm.HISTOGRAM]),
)
def test_metric_names_are_always_valid(name: str, unit: str, kind: int) -> None:
    out = nm.metric_name(name, unit, kind)
    assert out == "" or re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", out)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "1"),
        (0.25, "0.25"),
        (0.1, "0.1"),
        (100.0, "100"),
        (1e-05, "0.00001"),
        (1e21, "1000000000000000000000"),
        (2.5e-7, "0.00000025"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (0.0, "0"),
        (-0.5, "-0.5"),
        (1234567.125, "1234567.125"),
        (0.30000000000000004, "0.30000000000000004"),
    ],
)
def test_le_formatting_like_go_formatfloat(value: float, expected: str) -> None:
    assert nm.format_float(value) == expected


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_le_formatting_round_trips_without_exponent(value: float) -> None:
    text = nm.format_float(value)
    assert "e" not in text.lower()
    assert float(text) == value


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("s", "seconds"),
        ("By/s", "bytes_per_second"),
        ("1", ""),
        ("{packets}", ""),
        ("1/s", "per_second"),
    ],
)
def test_metadata_units(unit: str, expected: str) -> None:
    assert nm.prom_unit(unit) == expected


@pytest.mark.parametrize(
    ("buckets", "spans", "deltas"),
    [
        ({}, [], []),
        ({0: 3}, [(1, 1)], [3]),  # OTLP index i -> Prometheus index i + 1
        ({-2: 1, -1: 2}, [(-1, 2)], [1, 1]),
        ({0: 1, 3: 1}, [(1, 4)], [1, -1, 0, 1]),  # gap of two: filled with zeros
        ({0: 1, 4: 1}, [(1, 1), (3, 1)], [1, 0]),  # gap of three: a new span
        ({0: 5, 1: 0, 2: 5}, [(1, 3)], [5, -5, 5]),
    ],
)
def test_exponential_to_native_bucket_layout(
    buckets: dict[int, int], spans: list[tuple[int, int]], deltas: list[int]
) -> None:
    assert spans_and_deltas(buckets) == (spans, deltas)


@given(st.dictionaries(st.integers(-200, 200), st.integers(1, 1000), max_size=30))
def test_native_layout_round_trips(buckets: dict[int, int]) -> None:
    spans, deltas = spans_and_deltas(buckets)
    got: dict[int, int] = {}
    idx, count, k = 0, 0, 0
    for i, (offset, length) in enumerate(spans):
        idx = offset if i == 0 else idx + offset
        for _ in range(length):
            count += deltas[k]
            k += 1
            if count:
                got[idx - 1] = count
            idx += 1
    assert got == buckets
    assert k == len(deltas)
