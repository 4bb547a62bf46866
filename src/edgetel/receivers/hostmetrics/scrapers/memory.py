"""`memory`: system.memory.usage{state} from /proc/meminfo, with gopsutil's arithmetic (cached includes
SReclaimable; used = total - free - buffers - cached)."""

from __future__ import annotations

from typing import Any

from edgetel.receivers.hostmetrics.otlp import RequestBuilder, Templates, add_double, add_int, new_gauge, new_sum
from edgetel.receivers.hostmetrics.scrapers.base import ScrapeEnv, Scraper


class MemoryScraper(Scraper):
    name = "memory"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._tmpl = Templates(("state",), env.boot_ns)
        self._gauge = Templates(("state",))

    def states(self) -> tuple[int, list[tuple[str, int]]]:
        mem = self.env.mem
        total, free, buffers = mem("MemTotal"), mem("MemFree"), mem("Buffers")
        cached = mem("Cached") + mem("SReclaimable")
        used = total - free - buffers - cached
        return total, [
            ("used", used), ("free", free), ("buffered", buffers), ("cached", cached),
            ("slab_reclaimable", mem("SReclaimable")), ("slab_unreclaimable", mem("SUnreclaim")),
        ]  # fmt: skip

    def scrape(self, out: RequestBuilder, now: int) -> None:
        total, states = self.states()
        sm = out.scope(self.name)
        if self.enabled("system.memory.usage"):
            pts = new_sum(sm, "system.memory.usage", "Bytes of memory in use.", "By", False)
            for state, value in states:
                add_int(pts, self._tmpl.get(state), now, value)
        if self.enabled("system.memory.utilization") and total > 0:
            pts = new_gauge(sm, "system.memory.utilization", "Percentage of memory bytes in use.", "1")
            for state, value in states:
                add_double(pts, self._gauge.get(state), now, value / total)
