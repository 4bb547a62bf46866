"""`cpu`: system.cpu.time{cpu,state} from /proc/stat, as the Collector's cpu scraper (gopsutil) reports it."""

from __future__ import annotations

from typing import Any

from edgetel.receivers.hostmetrics.otlp import RequestBuilder, Templates, add_double, add_int, new_sum
from edgetel.receivers.hostmetrics.procfs import USER_HZ
from edgetel.receivers.hostmetrics.scrapers.base import ScrapeEnv, Scraper

# (state attribute, index in a /proc/stat cpu line)
STATES = (
    ("user", 0), ("nice", 1), ("system", 2), ("idle", 3),
    ("wait", 4), ("interrupt", 5), ("softirq", 6), ("steal", 7),
)  # fmt: skip


class CPUScraper(Scraper):
    name = "cpu"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._time = Templates(("cpu", "state"), env.boot_ns)
        self._count = Templates((), env.boot_ns).get()

    def scrape(self, out: RequestBuilder, now: int) -> None:
        cpus = self.env.stat().cpus
        sm = out.scope(self.name)
        if self.enabled("system.cpu.time"):
            pts = new_sum(sm, "system.cpu.time", "Total seconds each logical CPU spent on each mode.", "s", True)
            get = self._time.get
            for cpu, ticks in cpus:
                label = "cpu" + cpu
                n = len(ticks)
                for state, idx in STATES:
                    add_double(pts, get(label, state), now, ticks[idx] / USER_HZ if idx < n else 0.0)
        if self.enabled("system.cpu.logical.count"):
            pts = new_sum(sm, "system.cpu.logical.count", "Number of available logical CPUs.", "{cpu}", False)
            add_int(pts, self._count, now, len(cpus))
