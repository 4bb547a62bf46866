"""`paging`: system.paging.* from /proc/swaps and /proc/vmstat.

Operations and faults are the kernel's counts (gopsutil, and so the Collector, multiplies them by 4096)."""

from __future__ import annotations

from typing import Any

from edgetel.receivers.hostmetrics.otlp import RequestBuilder, Templates, add_double, add_int, new_gauge, new_sum
from edgetel.receivers.hostmetrics.procfs import parse_swaps
from edgetel.receivers.hostmetrics.scrapers.base import ScrapeEnv, Scraper


class PagingScraper(Scraper):
    name = "paging"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._usage = Templates(("device", "state"), env.boot_ns)
        self._util = Templates(("device", "state"))
        self._ops = Templates(("direction", "type"), env.boot_ns)
        self._faults = Templates(("type",), env.boot_ns)

    def scrape(self, out: RequestBuilder, now: int) -> None:
        sm = out.scope(self.name)
        if self.enabled("system.paging.usage") or self.enabled("system.paging.utilization"):
            swaps = parse_swaps(self.env.host.read_proc("swaps"))
            if self.enabled("system.paging.usage"):
                pts = new_sum(sm, "system.paging.usage", "Swap (unix) or pagefile (windows) usage.", "By", False)
                for dev, size, used in swaps:
                    add_int(pts, self._usage.get(dev, "used"), now, used)
                    add_int(pts, self._usage.get(dev, "free"), now, size - used)
            if self.enabled("system.paging.utilization"):
                pts = new_gauge(sm, "system.paging.utilization", "Swap (unix) or pagefile (windows) utilization.", "1")
                for dev, size, used in swaps:
                    if size:
                        add_double(pts, self._util.get(dev, "used"), now, used / size)
                        add_double(pts, self._util.get(dev, "free"), now, (size - used) / size)
        vm = self.env.vmstat()
        if self.enabled("system.paging.operations"):
            pts = new_sum(sm, "system.paging.operations", "The number of paging operations.", "{operations}", True)
            o = self._ops.get
            add_int(pts, o("page_in", "major"), now, vm.get("pswpin", 0))
            add_int(pts, o("page_out", "major"), now, vm.get("pswpout", 0))
            add_int(pts, o("page_in", "minor"), now, vm.get("pgpgin", 0))
            add_int(pts, o("page_out", "minor"), now, vm.get("pgpgout", 0))
        if self.enabled("system.paging.faults"):
            pts = new_sum(sm, "system.paging.faults", "The number of page faults.", "{faults}", True)
            major = vm.get("pgmajfault", 0)
            add_int(pts, self._faults.get("major"), now, major)
            add_int(pts, self._faults.get("minor"), now, vm.get("pgfault", 0) - major)
