"""`load`: system.cpu.load_average.{1m,5m,15m} from /proc/loadavg."""

from __future__ import annotations

from typing import Any

from edgetel.receivers.hostmetrics.otlp import RequestBuilder, Templates, add_double, new_gauge
from edgetel.receivers.hostmetrics.procfs import parse_loadavg
from edgetel.receivers.hostmetrics.scrapers.base import ScrapeEnv, Scraper

WINDOWS = (("1m", "1 minute"), ("5m", "5 minutes"), ("15m", "15 minutes"))


class LoadScraper(Scraper):
    name = "load"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._tmpl = Templates(()).get()

    def scrape(self, out: RequestBuilder, now: int) -> None:
        loads = parse_loadavg(self.env.host.read_proc("loadavg"))
        divisor = max(1, len(self.env.stat().cpus)) if self.cfg.cpu_average else 1
        sm = out.scope(self.name)
        for (suffix, text), value in zip(WINDOWS, loads, strict=True):
            name = f"system.cpu.load_average.{suffix}"
            if self.enabled(name):
                pts = new_gauge(sm, name, f"Average CPU Load over {text}.", "{thread}")
                add_double(pts, self._tmpl, now, value / divisor)
