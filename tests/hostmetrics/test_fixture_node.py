"""Exact values from a fake /proc tree with `metric_names: node_exporter`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostmetrics.helpers import BOOT, key, make_receiver, make_root, metrics_by_name, points

KIB = 1024


@pytest.fixture
def batch(tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_receiver({"root_path": str(make_root(tmp_path)), "metric_names": "node_exporter"}).scrape()


def test_cpu_seconds(batch) -> None:  # type: ignore[no-untyped-def]
    p = points(batch)
    expected = {
        "user": 1.0, "nice": 0.02, "system": 3.0, "idle": 40.0, "iowait": 0.5, "irq": 0.06, "softirq": 0.07,
        "steal": 0.08,
    }  # fmt: skip
    for mode, value in expected.items():
        assert p[key("node_cpu_seconds_total", cpu="0", mode=mode)] == pytest.approx(value)
    assert p[key("node_cpu_seconds_total", cpu="1", mode="idle")] == 50.0
    assert p[key("node_cpu_guest_seconds_total", cpu="0", mode="user")] == pytest.approx(0.09)
    m = metrics_by_name(batch)["node_cpu_seconds_total"]
    assert (m.unit, m.sum.is_monotonic) == ("", True)
    assert {dp.start_time_unix_nano for dp in m.sum.data_points} == {BOOT * 10**9}


def test_memory(batch) -> None:  # type: ignore[no-untyped-def]
    p = points(batch)
    assert p[key("node_memory_MemTotal_bytes")] == 16000000 * KIB
    assert p[key("node_memory_MemAvailable_bytes")] == 9000000 * KIB
    assert p[key("node_memory_MemFree_bytes")] == 4000000 * KIB
    assert p[key("node_memory_Buffers_bytes")] == 500000 * KIB
    assert p[key("node_memory_Cached_bytes")] == 3000000 * KIB
    assert p[key("node_memory_SwapTotal_bytes")] == 2000000 * KIB
    assert p[key("node_memory_SwapFree_bytes")] == 1500000 * KIB
    assert p[key("node_memory_Active_anon_bytes")] == 12345 * KIB
    assert p[key("node_memory_HugePages_Total")] == 0
    m = metrics_by_name(batch)["node_memory_MemTotal_bytes"]
    assert (m.unit, m.WhichOneof("data")) == ("", "gauge")


def test_load_network_disk(batch) -> None:  # type: ignore[no-untyped-def]
    p = points(batch)
    assert (p[key("node_load1")], p[key("node_load5")], p[key("node_load15")]) == (0.52, 0.75, 1.25)
    assert p[key("node_network_receive_bytes_total", device="eth0")] == 5000000
    assert p[key("node_network_transmit_bytes_total", device="eth0")] == 3000000
    assert p[key("node_network_receive_packets_total", device="eth0")] == 4000
    assert p[key("node_network_receive_errs_total", device="eth0")] == 1
    assert p[key("node_network_receive_drop_total", device="eth0")] == 2
    assert p[key("node_network_receive_multicast_total", device="eth0")] == 6
    assert p[key("node_network_transmit_colls_total", device="eth0")] == 10
    assert p[key("node_network_transmit_carrier_total", device="eth0")] == 11
    assert key("node_network_receive_bytes_total", device="lo") not in p  # node_exporter's default exclude
    assert p[key("node_disk_read_bytes_total", device="sda")] == 30000 * 512
    assert p[key("node_disk_written_bytes_total", device="sda")] == 70000 * 512
    assert p[key("node_disk_reads_completed_total", device="sda")] == 1000
    assert p[key("node_disk_writes_completed_total", device="sda")] == 500
    assert p[key("node_disk_io_time_seconds_total", device="sda")] == 0.9
    assert p[key("node_disk_read_time_seconds_total", device="sda")] == 0.4
    assert p[key("node_disk_io_now", device="sda")] == 2
    assert p[key("node_disk_flush_requests_total", device="sda")] == 15
    # partitions and loop devices are excluded by node_exporter's default device filter
    assert key("node_disk_read_bytes_total", device="sda1") not in p
    assert key("node_disk_read_bytes_total", device="loop0") not in p
    assert metrics_by_name(batch)["node_disk_io_now"].WhichOneof("data") == "gauge"


def test_system_processes_vmstat(batch) -> None:  # type: ignore[no-untyped-def]
    p = points(batch)
    assert p[key("node_boot_time_seconds")] == BOOT
    assert p[key("node_context_switches_total")] == 67890
    assert p[key("node_intr_total")] == 12345
    assert p[key("node_forks_total")] == 4321
    assert p[key("node_procs_running")] == 3
    assert p[key("node_procs_blocked")] == 1
    assert p[key("node_vmstat_pgfault")] == 5000
    assert p[key("node_vmstat_pswpin")] == 3
    assert p[key("node_vmstat_oom_kill")] == 1
    assert not any(n == "node_vmstat_nr_free_pages" for n, _ in p)
    uname = [a for n, a in p if n == "node_uname_info"]
    assert len(uname) == 1 and dict(uname[0])["nodename"] == "fixture-host"


def test_filesystem_default_excludes(batch) -> None:  # type: ignore[no-untyped-def]
    series = {dict(a)["mountpoint"] for n, a in points(batch) if n == "node_filesystem_size_bytes"}
    assert series == {"/"}  # /proc (fs type and mount point) and /run (mount point) are excluded


def test_every_name_is_final(batch) -> None:  # type: ignore[no-untyped-def]
    for name, m in metrics_by_name(batch).items():
        assert m.unit == ""
        assert name.startswith("node_")
        if m.WhichOneof("data") == "sum":
            assert name.endswith("_total") and m.sum.is_monotonic
        else:
            assert not name.endswith("_total")
