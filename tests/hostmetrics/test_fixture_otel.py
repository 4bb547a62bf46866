"""Exact values from a fake /proc tree, with the Collector's (OpenTelemetry) names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from tests.hostmetrics.helpers import BOOT, attrs_of, key, make_receiver, make_root, metrics_by_name, points

KIB = 1024
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


@pytest.fixture
def batch(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = make_root(tmp_path)
    rcv = make_receiver({"root_path": str(root)})
    return rcv.scrape()


def test_resource_and_scopes(batch) -> None:  # type: ignore[no-untyped-def]
    assert len(batch.request.resource_metrics) == 1
    rm = batch.request.resource_metrics[0]
    assert attrs_of(rm.resource.attributes) == {"host.name": "fixture-host", "os.type": "linux"}
    scopes = [sm.scope.name.rsplit("/", 1)[1] for sm in rm.scope_metrics]
    assert scopes == ["cpu", "memory", "load", "disk", "filesystem", "network", "paging", "processes", "system"]


def test_cpu(batch) -> None:  # type: ignore[no-untyped-def]
    p = points(batch)
    expected = {
        ("cpu0", "user"): 1.0, ("cpu0", "nice"): 0.02, ("cpu0", "system"): 3.0, ("cpu0", "idle"): 40.0,
        ("cpu0", "wait"): 0.5, ("cpu0", "interrupt"): 0.06, ("cpu0", "softirq"): 0.07, ("cpu0", "steal"): 0.08,
        ("cpu1", "user"): 2.0, ("cpu1", "idle"): 50.0, ("cpu1", "wait"): 0.1, ("cpu1", "softirq"): 0.03,
    }  # fmt: skip
    for (cpu, state), value in expected.items():
        assert p[key("system.cpu.time", cpu=cpu, state=state)] == pytest.approx(value)
    m = metrics_by_name(batch)["system.cpu.time"]
    assert (m.unit, m.sum.is_monotonic, m.sum.aggregation_temporality) == ("s", True, CUMULATIVE)
    assert len(m.sum.data_points) == 16
    assert {dp.start_time_unix_nano for dp in m.sum.data_points} == {BOOT * 10**9}


def test_memory(batch) -> None:  # type: ignore[no-untyped-def]
    p = points(batch)
    cached = (3000000 + 200000) * KIB
    assert p[key("system.memory.usage", state="used")] == 16000000 * KIB - 4000000 * KIB - 500000 * KIB - cached
    assert p[key("system.memory.usage", state="free")] == 4000000 * KIB
    assert p[key("system.memory.usage", state="buffered")] == 500000 * KIB
    assert p[key("system.memory.usage", state="cached")] == cached
    assert p[key("system.memory.usage", state="slab_reclaimable")] == 200000 * KIB
    assert p[key("system.memory.usage", state="slab_unreclaimable")] == 100000 * KIB
    m = metrics_by_name(batch)["system.memory.usage"]
    assert (m.unit, m.sum.is_monotonic) == ("By", False)
    assert "system.memory.utilization" not in metrics_by_name(batch)  # opt-in


def test_memory_utilization_opt_in(tmp_path: Path) -> None:
    cfg = {
        "root_path": str(make_root(tmp_path)),
        "scrapers": {"memory": {"metrics": {"system.memory.utilization": {"enabled": True}}}},
    }
    p = points(make_receiver(cfg).scrape())
    assert p[key("system.memory.utilization", state="free")] == pytest.approx(0.25)


def test_load_and_uptime(batch) -> None:  # type: ignore[no-untyped-def]
    p = points(batch)
    assert p[key("system.cpu.load_average.1m")] == 0.52
    assert p[key("system.cpu.load_average.5m")] == 0.75
    assert p[key("system.cpu.load_average.15m")] == 1.25
    assert p[key("system.uptime")] == 12345.67
    by_name = metrics_by_name(batch)
    assert by_name["system.cpu.load_average.1m"].unit == "{thread}"
    assert by_name["system.cpu.load_average.1m"].WhichOneof("data") == "gauge"
    assert by_name["system.uptime"].unit == "s"


def test_load_cpu_average(tmp_path: Path) -> None:
    cfg = {"root_path": str(make_root(tmp_path)), "scrapers": {"load": {"cpu_average": True}}}
    assert points(make_receiver(cfg).scrape())[key("system.cpu.load_average.15m")] == 0.625


def test_network(batch) -> None:  # type: ignore[no-untyped-def]
    p = points(batch)
    assert p[key("system.network.io", device="eth0", direction="receive")] == 5000000
    assert p[key("system.network.io", device="eth0", direction="transmit")] == 3000000
    assert p[key("system.network.packets", device="eth0", direction="receive")] == 4000
    assert p[key("system.network.packets", device="eth0", direction="transmit")] == 2000
    assert p[key("system.network.errors", device="eth0", direction="receive")] == 1
    assert p[key("system.network.errors", device="eth0", direction="transmit")] == 7
    assert p[key("system.network.dropped", device="eth0", direction="receive")] == 2
    assert p[key("system.network.dropped", device="eth0", direction="transmit")] == 8
    assert p[key("system.network.io", device="lo", direction="receive")] == 1000
    assert p[key("system.network.connections", protocol="tcp", state="LISTEN")] == 1
    assert p[key("system.network.connections", protocol="tcp", state="ESTABLISHED")] == 2
    assert p[key("system.network.connections", protocol="tcp", state="TIME_WAIT")] == 1
    assert p[key("system.network.connections", protocol="tcp", state="CLOSE_WAIT")] == 0


def test_network_filters(tmp_path: Path) -> None:
    cfg = {
        "root_path": str(make_root(tmp_path)),
        "scrapers": {"network": {"exclude": {"interfaces": ["^l"], "match_type": "regexp"}}},
    }
    devices = {dict(a)["device"] for (n, a) in points(make_receiver(cfg).scrape()) if n == "system.network.io"}
    assert devices == {"eth0"}


def test_disk(batch) -> None:  # type: ignore[no-untyped-def]
    p = points(batch)
    assert p[key("system.disk.io", device="sda", direction="read")] == 30000 * 512
    assert p[key("system.disk.io", device="sda", direction="write")] == 70000 * 512
    assert p[key("system.disk.operations", device="sda", direction="read")] == 1000
    assert p[key("system.disk.operations", device="sda", direction="write")] == 500
    assert p[key("system.disk.merged", device="sda", direction="read")] == 20
    assert p[key("system.disk.merged", device="sda", direction="write")] == 60
    assert p[key("system.disk.operation_time", device="sda", direction="read")] == 0.4
    assert p[key("system.disk.operation_time", device="sda", direction="write")] == 0.8
    assert p[key("system.disk.io_time", device="sda")] == 0.9
    assert p[key("system.disk.weighted_io_time", device="sda")] == 1.0
    assert p[key("system.disk.pending_operations", device="sda")] == 2
    assert key("system.disk.io", device="loop0", direction="read") in p  # no default filter, as the Collector


def test_disk_include_strict(tmp_path: Path) -> None:
    cfg = {"root_path": str(make_root(tmp_path)), "scrapers": {"disk": {"include": {"devices": ["sda1"]}}}}
    devices = {dict(a)["device"] for (n, a) in points(make_receiver(cfg).scrape()) if n == "system.disk.io"}
    assert devices == {"sda1"}


def test_paging_and_processes(batch) -> None:  # type: ignore[no-untyped-def]
    p = points(batch)
    assert p[key("system.paging.usage", device="/dev/sdb2", state="used")] == 500000 * KIB
    assert p[key("system.paging.usage", device="/dev/sdb2", state="free")] == 1500000 * KIB
    assert p[key("system.paging.operations", direction="page_in", type="major")] == 3
    assert p[key("system.paging.operations", direction="page_out", type="major")] == 4
    assert p[key("system.paging.operations", direction="page_in", type="minor")] == 111
    assert p[key("system.paging.operations", direction="page_out", type="minor")] == 222
    assert p[key("system.paging.faults", type="major")] == 50
    assert p[key("system.paging.faults", type="minor")] == 4950
    assert p[key("system.processes.count", status="running")] == 3
    assert p[key("system.processes.count", status="blocked")] == 1
    assert p[key("system.processes.created")] == 4321


def test_filesystem_under_root_path(batch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Only the device-backed mount (ext4 on /) is reported; statvfs runs on <root_path>/ .
    fs = {(n, a) for (n, a) in points(batch) if n.startswith("system.filesystem")}
    mounts = {dict(a)["mountpoint"] for _, a in fs}
    assert mounts == {"/"}
    p = points(batch)
    attrs = {"device": "/dev/sda1", "mode": "rw", "mountpoint": "/", "type": "ext4"}
    st = os.statvfs(tmp_path)
    total = sum(p[key("system.filesystem.usage", **attrs, state=s)] for s in ("used", "free", "reserved"))
    assert total == st.f_blocks * st.f_frsize
    assert key("system.filesystem.inodes.usage", **attrs, state="free") in p
