"""Every scraper on this machine, and the receiver's loop, push-back and failure handling."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from edgetel.component.errors import PermanentError, QueueFullError
from edgetel.pdata import Metrics
from edgetel.receivers.hostmetrics.config import KNOWN_METRICS
from tests.hostmetrics.helpers import Collect, make_ctx, make_receiver, make_root, metrics_by_name

ALL = ["cpu", "memory", "load", "disk", "filesystem", "network", "paging", "processes", "system", "process"]


def _cumulative(batch: Metrics) -> dict[tuple[object, ...], tuple[int, float]]:
    """(resource attrs, metric, point attrs) -> (start time, value) of every monotonic sum point."""
    out = {}
    for rm in batch.request.resource_metrics:
        res = tuple(sorted((a.key, str(a.value)) for a in rm.resource.attributes))
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.WhichOneof("data") != "sum" or not m.sum.is_monotonic:
                    continue
                for dp in m.sum.data_points:
                    attrs = tuple(sorted((a.key, str(a.value)) for a in dp.attributes))
                    value = dp.as_double if dp.WhichOneof("value") == "as_double" else dp.as_int
                    out[(res, m.name, attrs)] = (dp.start_time_unix_nano, value)
    return out


@pytest.mark.parametrize("naming", ["otel", "node_exporter"])
def test_every_scraper_on_this_machine(naming: str) -> None:
    scrapers = {name: {} for name in ALL}
    scrapers["process"] = {"include": {"names": ["python.*", "pytest.*"], "match_type": "regexp"}}
    rcv = make_receiver({"metric_names": naming, "scrapers": scrapers})
    first = rcv.scrape()
    second = rcv.scrape()
    # valid OTLP: it round-trips through the wire format
    again = Metrics.parse(second.serialize())
    assert again.request == second.request and second.item_count() > 50
    names = set(metrics_by_name(second))
    if naming == "otel":
        expected = {m for s in ALL for m, on in KNOWN_METRICS[s].items() if on}
        expected.discard("system.paging.usage")  # no swap device on many machines
        expected.discard("process.disk.io")
        assert expected <= names, expected - names
    else:
        for family in ("node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_load1",
                       "node_filesystem_avail_bytes", "node_network_receive_bytes_total", "node_boot_time_seconds",
                       "node_disk_read_bytes_total", "node_uname_info", "process.cpu.time"):  # fmt: skip
            assert family in names
    a, b = _cumulative(first), _cumulative(second)
    common = set(a) & set(b)
    assert len(common) > 20
    for k in common:
        assert a[k][0] == b[k][0] > 0, k  # stable start time
        assert b[k][1] >= a[k][1], k  # never decreasing
    assert rcv._ctx.metrics.value("edgetel_hostmetrics_scrape_errors_total", "hostmetrics", "cpu") == 0


async def test_loop_pushes_batches_and_counts_refusals() -> None:
    ctx = make_ctx()
    sink = Collect()
    rcv = make_receiver({"collection_interval": "50ms", "initial_delay": "0s"}, sink, ctx)
    await rcv.start()
    for _ in range(100):
        if len(sink.batches) >= 2:
            break
        await asyncio.sleep(0.05)
    await rcv.shutdown()
    assert len(sink.batches) >= 2
    accepted = ctx.metrics.value("edgetel_receiver_accepted_metric_points_total", "hostmetrics", "scrape")
    assert accepted == sum(b.item_count() for b in sink.batches)
    assert ctx.metrics.value("edgetel_hostmetrics_scrape_duration_seconds", "hostmetrics") > 0


@pytest.mark.parametrize("error", [QueueFullError("batch"), PermanentError("bad")])
async def test_pushed_back_batch_is_counted_and_dropped(error: Exception) -> None:
    ctx = make_ctx()
    rcv = make_receiver({"scrapers": {"cpu": {}}}, Collect(error), ctx)
    batch = rcv.scrape()
    await rcv.push(batch)
    await rcv.push(rcv.scrape())
    refused = ctx.metrics.value("edgetel_receiver_refused_metric_points_total", "hostmetrics", "scrape")
    assert refused == 2 * batch.item_count()
    assert ctx.metrics.value("edgetel_receiver_accepted_metric_points_total", "hostmetrics", "scrape") == 0


def test_failing_scraper_is_counted_logged_once_others_report(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_root(tmp_path, skip=("diskstats",))
    ctx = make_ctx()
    rcv = make_receiver({"root_path": str(root)}, ctx=ctx)
    with caplog.at_level(logging.WARNING):
        batches = [rcv.scrape() for _ in range(3)]
    assert ctx.metrics.value("edgetel_hostmetrics_scrape_errors_total", "hostmetrics", "disk") == 3
    assert ctx.metrics.value("edgetel_hostmetrics_scrape_errors_total", "hostmetrics", "cpu") == 0
    failed = [r for r in caplog.records if "scraper failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].scraper == "disk"  # type: ignore[attr-defined]
    names = set(metrics_by_name(batches[-1]))
    assert "system.cpu.time" in names and "system.network.io" in names
    assert not any(n.startswith("system.disk") for n in names)
    # it recovers once the file is back
    (root / "proc" / "diskstats").write_text("   8       0 sda 1 2 3 4 5 6 7 8 0 9 10\n")
    with caplog.at_level(logging.INFO):
        assert "system.disk.io" in metrics_by_name(rcv.scrape())
    assert any("scraper recovered" in r.getMessage() for r in caplog.records)


async def test_scrape_runs_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    rcv = make_receiver({"collection_interval": "1s", "initial_delay": "0s", "scrapers": {"load": {}}})
    threads: list[str] = []
    real = rcv.scrape

    def spy() -> Metrics:
        threads.append(threading.current_thread().name)
        return real()

    monkeypatch.setattr(rcv, "scrape", spy)
    await rcv.start()
    for _ in range(50):
        if threads:
            break
        await asyncio.sleep(0.02)
    await rcv.shutdown()
    assert threads and threads[0] != threading.main_thread().name


def test_tcp_connections_counted_by_state() -> None:
    import socket

    from edgetel.receivers.hostmetrics.procfs import count_tcp_states, count_tcp_states_netlink

    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        conn, _ = server.accept()
        try:
            netlink: dict[str, int] = {}
            count_tcp_states_netlink(netlink)
            with_sockstat: dict[str, int] = {}
            with open("/proc/net/sockstat") as f:
                count_tcp_states_netlink(with_sockstat, f.read())
            files: dict[str, int] = {}
            for table in ("tcp", "tcp6"):
                with open(f"/proc/net/{table}") as f:
                    count_tcp_states(f.read(), files)
        finally:
            client.close()
            conn.close()
    for counts in (netlink, with_sockstat, files):
        assert counts.get("LISTEN", 0) >= 1 and counts.get("ESTABLISHED", 0) >= 2


def test_root_path_reads_the_given_proc(tmp_path: Path) -> None:
    """A container's view of the host: root_path with the host's /proc under it."""
    (tmp_path / "proc").symlink_to("/proc")
    host = make_receiver({"root_path": str(tmp_path), "scrapers": {"memory": {}, "cpu": {}}}).scrape()
    local = make_receiver({"scrapers": {"memory": {}, "cpu": {}}}).scrape()
    cpus = {
        {a.key: a.value.string_value for a in dp.attributes}["cpu"]
        for b in (host, local)
        for dp in metrics_by_name(b)["system.cpu.time"].sum.data_points
    }
    assert len(cpus) == (os.cpu_count() or 1)
    assert metrics_by_name(host)["system.cpu.time"].sum.data_points[0].start_time_unix_nano == (
        metrics_by_name(local)["system.cpu.time"].sum.data_points[0].start_time_unix_nano
    )
