"""The per-process scraper: include / exclude by name, and permission errors counted, not logged per process."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from edgetel.receivers.hostmetrics.procfs import HostPaths
from edgetel.receivers.hostmetrics.scrapers import process as process_mod
from edgetel.receivers.hostmetrics.scrapers.process import ProcessStat
from tests.hostmetrics.helpers import attrs_of, make_ctx, make_receiver

MY_COMM = Path("/proc/self/comm").read_text().strip()


def _resources(batch: Any) -> list[dict[str, Any]]:
    return [attrs_of(rm.resource.attributes) for rm in batch.request.resource_metrics]


def test_include_strict_by_name() -> None:
    rcv = make_receiver({"scrapers": {"process": {"include": {"names": [MY_COMM]}}}})
    batch = rcv.scrape()
    res = _resources(batch)
    assert res and all(r["process.executable.name"] == MY_COMM for r in res)
    mine = [r for r in res if r["process.pid"] == os.getpid()]
    assert len(mine) == 1
    assert mine[0]["process.parent_pid"] == os.getppid()
    assert mine[0]["host.name"] and mine[0]["os.type"] == "linux"
    assert mine[0]["process.executable.path"] == os.path.realpath(f"/proc/{os.getpid()}/exe")
    rm = next(rm for rm in batch.request.resource_metrics if attrs_of(rm.resource.attributes) == mine[0])
    metrics = {m.name: m for sm in rm.scope_metrics for m in sm.metrics}
    assert {"process.cpu.time", "process.memory.usage", "process.memory.virtual", "process.disk.io"} <= set(metrics)
    assert metrics["process.memory.usage"].sum.data_points[0].as_int > 1 << 20
    starts = {dp.start_time_unix_nano for dp in metrics["process.cpu.time"].sum.data_points}
    assert len(starts) == 1
    # the start time is this process's creation time (within a clock tick or so)
    import psutil

    assert abs(starts.pop() / 1e9 - psutil.Process().create_time()) < 1.5


def test_exclude_regexp() -> None:
    rcv = make_receiver({"scrapers": {"process": {"exclude": {"names": [".*"], "match_type": "regexp"}}}})
    assert rcv.scrape().item_count() == 0
    rcv = make_receiver({"scrapers": {"process": {"exclude": {"names": [MY_COMM]}}}})
    assert all(r["process.executable.name"] != MY_COMM for r in _resources(rcv.scrape()))


def test_scrape_process_delay() -> None:
    cfg = {"scrapers": {"process": {"include": {"names": [MY_COMM]}, "scrape_process_delay": "1000d"}}}
    assert make_receiver(cfg).scrape().item_count() == 0


def _deny_pid1(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make pid 1's exe and io unreadable as they are to a non-root agent (this test may run as root)."""
    real_readlink, real_read = os.readlink, HostPaths.read_proc

    def readlink(path: Any, *a: Any, **k: Any) -> Any:
        if str(path).endswith("/1/exe"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_readlink(path, *a, **k)

    def read_proc(self: HostPaths, rel: str) -> str:
        if rel == "1/io":
            raise PermissionError(13, "Permission denied", rel)
        return real_read(self, rel)

    monkeypatch.setattr(process_mod.os, "readlink", readlink)
    monkeypatch.setattr(HostPaths, "read_proc", read_proc)


@pytest.mark.parametrize("mute", [False, True])
def test_permission_denied_is_counted_not_flooded(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, mute: bool
) -> None:
    _deny_pid1(monkeypatch)
    ctx = make_ctx()
    rcv = make_receiver({"scrapers": {"process": {"mute_process_all_errors": mute}}}, ctx=ctx)
    with caplog.at_level(logging.WARNING, logger=ctx.logger.name):
        batches = [rcv.scrape() for _ in range(3)]
    assert ctx.metrics.value("edgetel_hostmetrics_process_errors_total", "hostmetrics", "exe") == 3
    assert ctx.metrics.value("edgetel_hostmetrics_process_errors_total", "hostmetrics", "io") == 3
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == (0 if mute else 3)  # at most one line per scrape, whatever the process count
    if not mute:
        assert "exe=1" in warnings[0].counts  # type: ignore[attr-defined]
    # pid 1 is still reported, without the attribute it could not read
    init = [r for r in _resources(batches[-1]) if r["process.pid"] == 1]
    assert len(init) == 1 and "process.executable.path" not in init[0]


def test_stat_parser_handles_odd_names() -> None:
    fields = " ".join(["S", "7"] + [str(i) for i in range(3, 53)])
    st = ProcessStat(f"42 (a (b) c) {fields}")
    assert st.comm == "a (b) c"
    assert st.ppid == 7
