"""`disk`: system.disk.* per device from /proc/diskstats (every device, like gopsutil, unless filtered)."""

from __future__ import annotations

from typing import Any

from edgetel.receivers.hostmetrics.filters import NameFilter
from edgetel.receivers.hostmetrics.otlp import RequestBuilder, Templates, add_double, add_int, new_sum
from edgetel.receivers.hostmetrics.procfs import SECTOR_SIZE, parse_diskstats
from edgetel.receivers.hostmetrics.scrapers.base import ScrapeEnv, Scraper


def device_filter(cfg: Any) -> NameFilter:
    return NameFilter.build(cfg.include.devices, cfg.include.match_type, cfg.exclude.devices, cfg.exclude.match_type)


class DiskScraper(Scraper):
    name = "disk"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._filter = device_filter(cfg)
        self._dir = Templates(("device", "direction"), env.boot_ns)
        self._dev = Templates(("device",), env.boot_ns)

    def scrape(self, out: RequestBuilder, now: int) -> None:
        disks = [d for d in parse_diskstats(self.env.host.read_proc("diskstats")) if self._filter(d[2])]
        sm = out.scope(self.name)
        d, dev, en = self._dir.get, self._dev.get, self.enabled
        if en("system.disk.io"):
            pts = new_sum(sm, "system.disk.io", "Disk bytes transferred.", "By", True)
            for _, _, name, v in disks:
                add_int(pts, d(name, "read"), now, v[2] * SECTOR_SIZE)
                add_int(pts, d(name, "write"), now, v[6] * SECTOR_SIZE)
        if en("system.disk.operations"):
            pts = new_sum(sm, "system.disk.operations", "Disk operations count.", "{operations}", True)
            for _, _, name, v in disks:
                add_int(pts, d(name, "read"), now, v[0])
                add_int(pts, d(name, "write"), now, v[4])
        if en("system.disk.io_time"):
            pts = new_sum(sm, "system.disk.io_time", "Time disk spent activated.", "s", True)
            for _, _, name, v in disks:
                add_double(pts, dev(name), now, v[9] / 1000)
        if en("system.disk.operation_time"):
            pts = new_sum(sm, "system.disk.operation_time", "Time spent in disk operations.", "s", True)
            for _, _, name, v in disks:
                add_double(pts, d(name, "read"), now, v[3] / 1000)
                add_double(pts, d(name, "write"), now, v[7] / 1000)
        if en("system.disk.weighted_io_time"):
            desc = "Time disk spent activated multiplied by the queue length."
            pts = new_sum(sm, "system.disk.weighted_io_time", desc, "s", True)
            for _, _, name, v in disks:
                add_double(pts, dev(name), now, v[10] / 1000)
        if en("system.disk.pending_operations"):
            pts = new_sum(
                sm, "system.disk.pending_operations", "The queue size of pending I/O operations.", "{operations}", False
            )
            for _, _, name, v in disks:
                add_int(pts, dev(name), now, v[8])
        if en("system.disk.merged"):
            pts = new_sum(
                sm,
                "system.disk.merged",
                "The number of disk reads/writes merged into single physical disk access operations.",
                "{operations}",
                True,
            )
            for _, _, name, v in disks:
                add_int(pts, d(name, "read"), now, v[1])
                add_int(pts, d(name, "write"), now, v[5])
