"""`system`: system.uptime from /proc/uptime."""

from __future__ import annotations

from typing import Any

from edgetel.receivers.hostmetrics.otlp import RequestBuilder, Templates, add_double, new_gauge
from edgetel.receivers.hostmetrics.procfs import parse_uptime
from edgetel.receivers.hostmetrics.scrapers.base import ScrapeEnv, Scraper


class SystemScraper(Scraper):
    name = "system"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._tmpl = Templates(()).get()

    def scrape(self, out: RequestBuilder, now: int) -> None:
        uptime = parse_uptime(self.env.host.read_proc("uptime"))
        sm = out.scope(self.name)
        if self.enabled("system.uptime"):
            pts = new_gauge(sm, "system.uptime", "The time the system has been running", "s")
            add_double(pts, self._tmpl, now, uptime)
