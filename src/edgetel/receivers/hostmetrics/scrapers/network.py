"""`network`: system.network.* per interface from /proc/net/dev, and TCP connections by state counted from
a sock_diag netlink dump (/proc/net/tcp and tcp6 under `root_path`), without walking every process's file
descriptors as psutil and gopsutil do."""

from __future__ import annotations

from typing import Any

from edgetel.receivers.hostmetrics.filters import NameFilter
from edgetel.receivers.hostmetrics.otlp import RequestBuilder, Templates, add_int, new_sum
from edgetel.receivers.hostmetrics.procfs import TCP_STATES, count_tcp_states, count_tcp_states_netlink, parse_net_dev
from edgetel.receivers.hostmetrics.scrapers.base import ScrapeEnv, Scraper

# (metric, unit, description, receive index, transmit index) in parse_net_dev's 16 counters
COUNTERS = (
    ("system.network.packets", "{packets}", "The number of packets transferred.", 1, 9),
    ("system.network.dropped", "{packets}", "The number of packets dropped.", 3, 11),
    ("system.network.errors", "{errors}", "The number of errors encountered.", 2, 10),
    ("system.network.io", "By", "The number of bytes transmitted and received.", 0, 8),
)


def interface_filter(cfg: Any) -> NameFilter:
    return NameFilter.build(
        cfg.include.interfaces, cfg.include.match_type, cfg.exclude.interfaces, cfg.exclude.match_type
    )


class NetworkScraper(Scraper):
    name = "network"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._filter = interface_filter(cfg)
        self._dir = Templates(("device", "direction"), env.boot_ns)
        self._conn = Templates(("protocol", "state"), env.boot_ns)
        # Netlink answers for this process's network namespace: under root_path read the host's files.
        self._netlink = not env.host.root

    def _count_connections(self, counts: dict[str, int]) -> None:
        if self._netlink:
            try:
                count_tcp_states_netlink(counts, self.env.host.read_proc("net/sockstat"))
                return
            except OSError:
                self._netlink = False  # not allowed here (seccomp, no netlink): read the tables from now on
                for key in counts:
                    counts[key] = 0
        for table in ("net/tcp", "net/tcp6"):
            try:
                count_tcp_states(self.env.host.read_proc(table), counts)
            except FileNotFoundError:  # no IPv6 on this host
                pass

    def scrape(self, out: RequestBuilder, now: int) -> None:
        ifaces = [i for i in parse_net_dev(self.env.host.read_proc("net/dev")) if self._filter(i[0])]
        sm = out.scope(self.name)
        d = self._dir.get
        for metric, unit, desc, rx, tx in COUNTERS:
            if self.enabled(metric) and ifaces:
                pts = new_sum(sm, metric, desc, unit, True)
                for name, v in ifaces:
                    add_int(pts, d(name, "transmit"), now, v[tx])
                    add_int(pts, d(name, "receive"), now, v[rx])
        if self.enabled("system.network.connections"):
            counts = dict.fromkeys(TCP_STATES.values(), 0)
            self._count_connections(counts)
            pts = new_sum(sm, "system.network.connections", "The number of connections.", "{connections}", False)
            for state, n in counts.items():
                add_int(pts, self._conn.get("tcp", state), now, n)
