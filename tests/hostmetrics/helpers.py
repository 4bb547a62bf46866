"""Shared test helpers: a fake /proc tree with fixed values, a receiver factory and point extraction."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edgetel.component.factory import CreateContext
from edgetel.component.ids import ComponentID, Kind, Signal
from edgetel.component.lifecycle import Lifecycle
from edgetel.config.decode import decode
from edgetel.config.problems import Problems
from edgetel.pdata import Metrics
from edgetel.pipeline.sockets import SocketPool
from edgetel.receivers.hostmetrics.config import HostMetricsConfig
from edgetel.receivers.hostmetrics.receiver import HostMetricsReceiver
from edgetel.telemetry.selfmetrics import Registry

BOOT = 1_700_000_000

FILES = {
    "stat": f"""cpu  300 2 400 9000 60 6 10 8 9 10
cpu0 100 2 300 4000 50 6 7 8 9 10
cpu1 200 0 100 5000 10 0 3 0 0 0
intr 12345 1 2 3
ctxt 67890
btime {BOOT}
processes 4321
procs_running 3
procs_blocked 1
softirq 1 2 3
""",
    "meminfo": """MemTotal:       16000000 kB
MemFree:         4000000 kB
MemAvailable:    9000000 kB
Buffers:          500000 kB
Cached:          3000000 kB
SwapCached:            0 kB
Active(anon):      12345 kB
SwapTotal:       2000000 kB
SwapFree:        1500000 kB
SReclaimable:     200000 kB
SUnreclaim:       100000 kB
HugePages_Total:       0
""",
    "loadavg": "0.52 0.75 1.25 2/345 6789\n",
    "uptime": "12345.67 23456.78\n",
    "net/dev": """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0: 5000000    4000    1    2    3     4          5         6  3000000    2000    7    8    9    10      11         12
""",
    "diskstats": """   8       0 sda 1000 20 30000 400 500 60 70000 800 2 900 1000 11 12 13 14 15 16
   8       1 sda1 100 2 3000 40 50 6 7000 80 0 90 100 0 0 0 0 0 0
   7       0 loop0 1 0 8 0 0 0 0 0 0 0 0 0 0 0 0 0 0
""",
    "vmstat": """nr_free_pages 1000
pgpgin 111
pgpgout 222
pswpin 3
pswpout 4
pgfault 5000
pgmajfault 50
oom_kill 1
""",
    "swaps": """Filename				Type		Size		Used		Priority
/dev/sdb2                               partition	2000000		500000		-2
""",
    "net/tcp": """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 0100007F:1F91 0100007F:C351 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
""",
    "net/tcp6": """  sl  local_address                         remote_address                        st tx_queue
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 06 00000000:00000000
""",
    "1/mounts": "/dev/sda1 / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\ntmpfs /run tmpfs rw 0 0\n",
    "filesystems": "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n\text4\n\tvfat\n",
    "sys/kernel/domainname": "(none)\n",
}


def make_root(tmp_path: Path, skip: tuple[str, ...] = ()) -> Path:
    """A fake host root: <tmp>/proc/... with the FILES above, and <tmp>/etc/hostname."""
    for rel, text in FILES.items():
        if rel in skip:
            continue
        path = tmp_path / "proc" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "etc").mkdir(exist_ok=True)
    (tmp_path / "etc" / "hostname").write_text("fixture-host\n")
    return tmp_path


def make_ctx(name: str = "hostmetrics") -> CreateContext:
    return CreateContext(
        id=ComponentID.parse(name),
        kind=Kind.RECEIVER,
        logger=logging.getLogger(f"test.{name}"),
        metrics=Registry(),
        sockets=SocketPool(),
        lifecycle=Lifecycle(),
    )


def make_config(raw: dict[str, Any]) -> HostMetricsConfig:
    problems = Problems("test.yaml")
    cfg = decode(HostMetricsConfig, raw, problems, ("receivers", "hostmetrics"))
    assert not problems.items, problems.items
    return cfg


class Collect:
    """A metrics consumer that keeps what it is given (or raises `error`)."""

    mutates = False

    def __init__(self, error: Exception | None = None) -> None:
        self.batches: list[Metrics] = []
        self.error = error

    async def consume(self, batch: Any) -> None:
        if self.error is not None:
            raise self.error
        self.batches.append(batch)


def make_receiver(
    raw: dict[str, Any], consumer: Any = None, ctx: CreateContext | None = None
) -> HostMetricsReceiver:
    return HostMetricsReceiver(ctx or make_ctx(), make_config(raw), {Signal.METRICS: consumer or Collect()})


def attrs_of(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in kvs:
        which = a.value.WhichOneof("value")
        out[a.key] = getattr(a.value, which) if which else None
    return out


def points(batch: Metrics) -> dict[tuple[str, frozenset[tuple[str, Any]]], float]:
    """(metric name, attributes) -> value, over the host resource's metrics."""
    out = {}
    for rm in batch.request.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                for dp in getattr(m, kind).data_points:
                    value = dp.as_double if dp.WhichOneof("value") == "as_double" else dp.as_int
                    out[(m.name, frozenset(attrs_of(dp.attributes).items()))] = value
    return out


def metrics_by_name(batch: Metrics) -> dict[str, Any]:
    return {m.name: m for rm in batch.request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def key(name: str, **attrs: Any) -> tuple[str, frozenset[tuple[str, Any]]]:
    return (name, frozenset(attrs.items()))
