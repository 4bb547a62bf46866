"""`processes`: system.processes.count{status} and system.processes.created from /proc/stat (on Linux the
Collector reports the running and blocked counts the kernel keeps there)."""

from __future__ import annotations

from typing import Any

from edgetel.receivers.hostmetrics.otlp import RequestBuilder, Templates, add_int, new_sum
from edgetel.receivers.hostmetrics.scrapers.base import ScrapeEnv, Scraper


class ProcessesScraper(Scraper):
    name = "processes"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._status = Templates(("status",), env.boot_ns)
        self._created = Templates((), env.boot_ns).get()

    def scrape(self, out: RequestBuilder, now: int) -> None:
        st = self.env.stat()
        sm = out.scope(self.name)
        if self.enabled("system.processes.count"):
            desc = "Total number of processes in each state."
            pts = new_sum(sm, "system.processes.count", desc, "{processes}", False)
            add_int(pts, self._status.get("running"), now, st.procs_running)
            add_int(pts, self._status.get("blocked"), now, st.procs_blocked)
        if self.enabled("system.processes.created"):
            pts = new_sum(sm, "system.processes.created", "Total number of created processes.", "{processes}", True)
            add_int(pts, self._created, now, st.processes)
