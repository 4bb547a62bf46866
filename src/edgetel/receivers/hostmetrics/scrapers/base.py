"""What every scraper shares: the host's paths, its boot time, and one read of each /proc file per scrape."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from edgetel.receivers.hostmetrics.otlp import RequestBuilder
from edgetel.receivers.hostmetrics.procfs import HostPaths, Stat, parse_meminfo, parse_stat, parse_vmstat


class PartialScrapeError(Exception):
    """Some items (a mount point, a device) could not be read; the rest were emitted."""


class ScrapeEnv:
    """Shared by the scrapers of one receiver. `begin()` at the start of every scrape forgets the files read
    by the previous one, so two scrapers needing /proc/stat read it once."""

    def __init__(self, host: HostPaths) -> None:
        self.host = host
        self._stat: Stat | None = None
        self._meminfo: dict[str, tuple[int, bool]] | None = None
        self._vmstat: dict[str, int] | None = None
        # Read once: the counters' start time must not move between scrapes (btime can jitter by a second).
        self.boot_time_s = self.stat().btime
        self.boot_ns = self.boot_time_s * 1_000_000_000

    def begin(self) -> None:
        self._stat = self._meminfo = self._vmstat = None

    def stat(self) -> Stat:
        if self._stat is None:
            self._stat = parse_stat(self.host.read_proc("stat"))
        return self._stat

    def meminfo(self) -> dict[str, tuple[int, bool]]:
        if self._meminfo is None:
            self._meminfo = parse_meminfo(self.host.read_proc("meminfo"))
        return self._meminfo

    def mem(self, key: str) -> int:
        return self.meminfo().get(key, (0, True))[0]

    def vmstat(self) -> dict[str, int]:
        if self._vmstat is None:
            self._vmstat = parse_vmstat(self.host.read_proc("vmstat"))
        return self._vmstat


class Scraper(ABC):
    """One scraper: appends its metrics for one scrape to the request being built."""

    name: ClassVar[str]

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        self.cfg = cfg
        self.env = env

    def enabled(self, metric: str) -> bool:
        return bool(self.cfg.metric_enabled(metric))

    @abstractmethod
    def scrape(self, out: RequestBuilder, now: int) -> None:
        """Add this scrape's metrics to `out`; raise on failure (partial output is kept)."""
