"""edgetel's `metric_names: node_exporter` against the real node_exporter on this machine: the same series
and values within 1% (each node_exporter reading is bracketed by two edgetel readings taken back to back)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edgetel.pdata import Metrics
from tests.helpers import IN_CI
from tests.hostmetrics.helpers import attrs_of, make_receiver
from tests.hostmetrics.peer import NodeExporter, Series, binary, node_exporter

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def peer() -> Iterator[NodeExporter]:
    path = binary()
    if path is None:
        if IN_CI:
            pytest.fail("prometheus-node-exporter is not installed (scripts/setup.sh installs it)")
        pytest.skip("prometheus-node-exporter is not installed (Debian package prometheus-node-exporter)")
    with node_exporter(path) as ne:
        yield ne


def _series(batch: Metrics) -> Series:
    out: Series = {}
    for rm in batch.request.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for dp in getattr(m, m.WhichOneof("data")).data_points:
                    labels = frozenset((k, str(v)) for k, v in attrs_of(dp.attributes).items())
                    out[(m.name, labels)] = dp.as_double if dp.WhichOneof("value") == "as_double" else dp.as_int
    return out


@pytest.fixture(scope="module")
def readings(peer: NodeExporter) -> tuple[Series, Series, Series]:
    rcv = make_receiver({"metric_names": "node_exporter"})
    rcv.scrape()  # warm up, so the three readings below follow each other closely
    before = _series(rcv.scrape())
    theirs = peer.scrape()
    after = _series(rcv.scrape())
    return before, theirs, after


def _family(s: Series, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in s.items() if n == name}


def _within(low: float, value: float, high: float, rel: float = 0.01) -> bool:
    low, high = min(low, high), max(low, high)
    return low - abs(low) * rel - 1e-9 <= value <= high + abs(high) * rel + 1e-9


@pytest.mark.parametrize(
    "family",
    ["node_cpu_seconds_total", "node_filesystem_size_bytes", "node_network_receive_bytes_total",
     "node_disk_read_bytes_total", "node_load1", "node_memory_MemTotal_bytes"],
)  # fmt: skip
def test_same_series(readings: tuple[Series, Series, Series], family: str) -> None:
    before, theirs, _ = readings
    assert set(_family(before, family)) == set(_family(theirs, family))
    assert _family(theirs, family), f"node_exporter reported no {family}"


def test_same_memory_fields(readings: tuple[Series, Series, Series]) -> None:
    before, theirs, _ = readings
    ours = {n for n, _ in before if n.startswith("node_memory_")}
    assert ours == {n for n, _ in theirs if n.startswith("node_memory_")}


def test_cpu_seconds_agree(readings: tuple[Series, Series, Series]) -> None:
    b, t, a = (_family(s, "node_cpu_seconds_total") for s in readings)
    per_cpu: dict[str, list[float]] = {}
    for labels, value in t.items():
        cpu = dict(labels)["cpu"]
        sums = per_cpu.setdefault(cpu, [0.0, 0.0, 0.0])
        sums[0] += b[labels]
        sums[1] += value
        sums[2] += a[labels]
        # per mode: 1%, or two clock ticks for the small counters
        assert b[labels] - 0.02 <= value * 1.01 and value <= a[labels] * 1.01 + 0.02, (labels, b[labels], value)
    for cpu, (lo, mid, hi) in per_cpu.items():
        assert _within(lo, mid, hi), (cpu, lo, mid, hi)


def test_memory_agrees(readings: tuple[Series, Series, Series]) -> None:
    before, theirs, after = readings
    for name in ("node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes"):
        k = (name, frozenset())
        assert _within(before[k], theirs[k], after[k]), (name, before[k], theirs[k], after[k])
    assert before[("node_memory_MemTotal_bytes", frozenset())] == theirs[("node_memory_MemTotal_bytes", frozenset())]


def test_filesystem_sizes_agree(readings: tuple[Series, Series, Series]) -> None:
    for name in ("node_filesystem_size_bytes", "node_filesystem_avail_bytes", "node_filesystem_files"):
        b, t, a = (_family(s, name) for s in readings)
        for labels, value in t.items():
            assert _within(b[labels], value, a[labels]), (name, dict(labels), b[labels], value)


def test_network_bytes_agree(readings: tuple[Series, Series, Series]) -> None:
    for name in ("node_network_receive_bytes_total", "node_network_transmit_bytes_total"):
        b, t, a = (_family(s, name) for s in readings)
        for labels, value in t.items():
            assert _within(b[labels], value, a[labels]), (name, dict(labels), b[labels], value, a[labels])


def test_load_and_boot_time_agree(readings: tuple[Series, Series, Series]) -> None:
    before, theirs, after = readings
    k = ("node_boot_time_seconds", frozenset())
    assert abs(before[k] - theirs[k]) <= 1
    k = ("node_load1", frozenset())
    assert abs(theirs[k] - before[k]) <= max(0.05, 0.01 * before[k]) or _within(before[k], theirs[k], after[k])
