"""`metric_names: node_exporter`: the node_exporter families, names, labels and units (seconds, bytes), so
that dashboards built for node_exporter work unchanged.

Each metric's OTLP name IS the final Prometheus name and its unit is empty, so a Prometheus translation
(remote-write, exposition) adds no suffix. `*_total` families are cumulative monotonic sums starting at boot;
everything else is a gauge. Default filters are those of node_exporter 1.5 as Debian ships it (the
`prometheus-node-exporter` package); setting the scraper's own include/exclude keys replaces them.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any

from edgetel.receivers.hostmetrics.filters import Matcher, NameFilter
from edgetel.receivers.hostmetrics.otlp import Points, RequestBuilder, Templates, add_double, new_gauge, new_sum
from edgetel.receivers.hostmetrics.procfs import SECTOR_SIZE, USER_HZ, parse_diskstats, parse_loadavg, parse_net_dev
from edgetel.receivers.hostmetrics.procfs import parse_mounts as _parse_mounts
from edgetel.receivers.hostmetrics.scrapers.base import ScrapeEnv, Scraper
from edgetel.receivers.hostmetrics.scrapers.filesystem import statvfs_all

# node_exporter's default flags (Debian's package: its mount point and network device defaults differ from
# upstream's, which has `^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`
# and no network device exclusion).
DISK_EXCLUDE = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"
MOUNT_POINTS_EXCLUDE = r"^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
FS_TYPES_EXCLUDE = (
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs"
    r"|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$"
)
NETDEV_EXCLUDE = r"^lo$"
VMSTAT_FIELDS = re.compile(r"^(oom_kill|pgpg|pswp|pg.*fault).*")

CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
NET_FIELDS = (
    "receive_bytes", "receive_packets", "receive_errs", "receive_drop",
    "receive_fifo", "receive_frame", "receive_compressed", "receive_multicast",
    "transmit_bytes", "transmit_packets", "transmit_errs", "transmit_drop",
    "transmit_fifo", "transmit_colls", "transmit_carrier", "transmit_compressed",
)  # fmt: skip
# (name, diskstats index, scale) for node_disk_* counters; io_now is a gauge.
DISK_COUNTERS = (
    ("node_disk_reads_completed_total", 0, 1.0),
    ("node_disk_reads_merged_total", 1, 1.0),
    ("node_disk_read_bytes_total", 2, float(SECTOR_SIZE)),
    ("node_disk_read_time_seconds_total", 3, 0.001),
    ("node_disk_writes_completed_total", 4, 1.0),
    ("node_disk_writes_merged_total", 5, 1.0),
    ("node_disk_written_bytes_total", 6, float(SECTOR_SIZE)),
    ("node_disk_write_time_seconds_total", 7, 0.001),
    ("node_disk_io_time_seconds_total", 9, 0.001),
    ("node_disk_io_time_weighted_seconds_total", 10, 0.001),
    ("node_disk_discards_completed_total", 11, 1.0),
    ("node_disk_discards_merged_total", 12, 1.0),
    ("node_disk_discarded_sectors_total", 13, 1.0),
    ("node_disk_discard_time_seconds_total", 14, 0.001),
    ("node_disk_flush_requests_total", 15, 1.0),
    ("node_disk_flush_requests_time_seconds_total", 16, 0.001),
)
_PARENS = re.compile(r"\((.*)\)")


def _counter(sm: Any, name: str, help_text: str) -> Points:
    return new_sum(sm, name, help_text, "", True)


def _gauge(sm: Any, name: str, help_text: str) -> Points:
    return new_gauge(sm, name, help_text, "")


class NodeCPU(Scraper):
    name = "cpu"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._tmpl = Templates(("cpu", "mode"), env.boot_ns)

    def scrape(self, out: RequestBuilder, now: int) -> None:
        cpus = self.env.stat().cpus
        sm = out.scope(self.name)
        get = self._tmpl.get
        pts = _counter(sm, "node_cpu_seconds_total", "Seconds the CPUs spent in each mode.")
        for cpu, ticks in cpus:
            for idx, mode in enumerate(CPU_MODES):
                add_double(pts, get(cpu, mode), now, ticks[idx] / USER_HZ if idx < len(ticks) else 0.0)
        pts = _counter(sm, "node_cpu_guest_seconds_total", "Seconds the CPUs spent in guests (VMs) for each mode.")
        for cpu, ticks in cpus:
            for idx, mode in ((8, "user"), (9, "nice")):
                add_double(pts, get(cpu, mode), now, ticks[idx] / USER_HZ if idx < len(ticks) else 0.0)


def meminfo_metric_name(key: str, has_unit: bool) -> str:
    """`Active(anon)` with a kB unit -> `node_memory_Active_anon_bytes`, as node_exporter names it."""
    key = _PARENS.sub(r"_\1", key)
    return f"node_memory_{key}_bytes" if has_unit else f"node_memory_{key}"


class NodeMemory(Scraper):
    name = "memory"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._tmpl = Templates(()).get()
        self._names: dict[tuple[str, bool], str] = {}

    def scrape(self, out: RequestBuilder, now: int) -> None:
        sm = out.scope(self.name)
        for key, (value, has_unit) in self.env.meminfo().items():
            name = self._names.get((key, has_unit))
            if name is None:
                name = self._names[(key, has_unit)] = meminfo_metric_name(key, has_unit)
            add_double(_gauge(sm, name, f"Memory information field {name[12:]}."), self._tmpl, now, float(value))


class NodeLoad(Scraper):
    name = "load"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._tmpl = Templates(()).get()

    def scrape(self, out: RequestBuilder, now: int) -> None:
        loads = parse_loadavg(self.env.host.read_proc("loadavg"))
        sm = out.scope(self.name)
        for suffix, value in zip(("1", "5", "15"), loads, strict=True):
            add_double(_gauge(sm, f"node_load{suffix}", f"{suffix}m load average."), self._tmpl, now, value)


def _filter(include: Any, exclude: Any, attr: str, default_exclude: str) -> NameFilter:
    inc, exc = getattr(include, attr), getattr(exclude, attr)
    if not inc and not exc:
        return NameFilter(None, Matcher([default_exclude], "regexp"))
    return NameFilter.build(inc, include.match_type, exc, exclude.match_type)


class NodeDisk(Scraper):
    name = "disk"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._filter = _filter(cfg.include, cfg.exclude, "devices", DISK_EXCLUDE)
        self._dev = Templates(("device",), env.boot_ns)
        self._info = Templates(("device", "major", "minor", "path", "wwn", "model", "serial", "revision"))

    def scrape(self, out: RequestBuilder, now: int) -> None:
        disks = [d for d in parse_diskstats(self.env.host.read_proc("diskstats")) if self._filter(d[2])]
        sm = out.scope(self.name)
        dev = self._dev.get
        for name, idx, scale in DISK_COUNTERS:
            pts = _counter(sm, name, f"Disk statistic {name[10:]}.")
            for _, _, device, v in disks:
                add_double(pts, dev(device), now, v[idx] * scale)
        pts = _gauge(sm, "node_disk_io_now", "The number of I/Os currently in progress.")
        for _, _, device, v in disks:
            add_double(pts, dev(device), now, float(v[8]))
        pts = _gauge(sm, "node_disk_info", "Info of /sys/block/<block_device>.")
        for major, minor, device, _ in disks:
            add_double(pts, self._info.get(device, major, minor, "", "", "", "", ""), now, 1.0)


def _size(s: os.statvfs_result) -> int:
    return s.f_blocks * s.f_frsize


def _free(s: os.statvfs_result) -> int:
    return s.f_bfree * s.f_frsize


def _avail(s: os.statvfs_result) -> int:
    return s.f_bavail * s.f_frsize


def _files(s: os.statvfs_result) -> int:
    return s.f_files


def _files_free(s: os.statvfs_result) -> int:
    return s.f_ffree


class NodeFilesystem(Scraper):
    name = "filesystem"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._mounts = _filter(cfg.include_mount_points, cfg.exclude_mount_points, "mount_points", MOUNT_POINTS_EXCLUDE)
        self._types = _filter(cfg.include_fs_types, cfg.exclude_fs_types, "fs_types", FS_TYPES_EXCLUDE)
        self._devices = NameFilter.build(
            cfg.include_devices.devices, cfg.include_devices.match_type,
            cfg.exclude_devices.devices, cfg.exclude_devices.match_type,
        )  # fmt: skip
        self._tmpl = Templates(("device", "fstype", "mountpoint"))

    def scrape(self, out: RequestBuilder, now: int) -> None:
        mounts = [
            m
            for m in _parse_mounts(self.env.host.mounts_text())
            if self._mounts(m.mountpoint) and self._types(m.fstype) and self._devices(m.device)
        ]
        stats, _failed = statvfs_all(self.env, mounts)
        ok = {m.mountpoint for m, _ in stats}
        sm = out.scope(self.name)
        get = self._tmpl.get
        families: tuple[tuple[str, str, Callable[[os.statvfs_result], int]], ...] = (
            ("node_filesystem_size_bytes", "Filesystem size in bytes.", _size),
            ("node_filesystem_free_bytes", "Filesystem free space in bytes.", _free),
            ("node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes.", _avail),
            ("node_filesystem_files", "Filesystem total file nodes.", _files),
            ("node_filesystem_files_free", "Filesystem total free file nodes.", _files_free),
        )
        for name, help_text, fn in families:
            pts = _gauge(sm, name, help_text)
            for m, s in stats:
                add_double(pts, get(m.device, m.fstype, m.mountpoint), now, float(fn(s)))
        pts = _gauge(sm, "node_filesystem_readonly", "Filesystem read-only status.")
        for m, _ in stats:
            add_double(pts, get(m.device, m.fstype, m.mountpoint), now, 1.0 if m.mode == "ro" else 0.0)
        pts = _gauge(sm, "node_filesystem_device_error", "Whether an error occurred while getting statistics.")
        for m in mounts:
            add_double(pts, get(m.device, m.fstype, m.mountpoint), now, 0.0 if m.mountpoint in ok else 1.0)


class NodeNetwork(Scraper):
    name = "network"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._filter = _filter(cfg.include, cfg.exclude, "interfaces", NETDEV_EXCLUDE)
        self._tmpl = Templates(("device",), env.boot_ns)

    def scrape(self, out: RequestBuilder, now: int) -> None:
        ifaces = [i for i in parse_net_dev(self.env.host.read_proc("net/dev")) if self._filter(i[0])]
        sm = out.scope(self.name)
        for idx, field in enumerate(NET_FIELDS):
            pts = _counter(sm, f"node_network_{field}_total", f"Network device statistic {field}.")
            for device, v in ifaces:
                add_double(pts, self._tmpl.get(device), now, float(v[idx]))


class NodePaging(Scraper):
    """node_exporter's vmstat collector (its swap figures are node_memory_Swap* from the memory scraper)."""

    name = "paging"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._tmpl = Templates(()).get()

    def scrape(self, out: RequestBuilder, now: int) -> None:
        sm = out.scope(self.name)
        for key, value in self.env.vmstat().items():
            if VMSTAT_FIELDS.match(key):
                add_double(_gauge(sm, f"node_vmstat_{key}", f"/proc/vmstat information field {key}."),
                           self._tmpl, now, float(value))  # fmt: skip


class NodeProcesses(Scraper):
    name = "processes"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._gauge = Templates(()).get()
        self._counter = Templates((), env.boot_ns).get()

    def scrape(self, out: RequestBuilder, now: int) -> None:
        st = self.env.stat()
        sm = out.scope(self.name)
        add_double(_gauge(sm, "node_procs_running", "Number of processes in runnable state."),
                   self._gauge, now, float(st.procs_running))  # fmt: skip
        add_double(_gauge(sm, "node_procs_blocked", "Number of processes blocked waiting for I/O to complete."),
                   self._gauge, now, float(st.procs_blocked))  # fmt: skip
        add_double(_counter(sm, "node_forks_total", "Total number of forks."), self._counter, now, float(st.processes))


class NodeSystem(Scraper):
    name = "system"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._gauge = Templates(()).get()
        self._counter = Templates((), env.boot_ns).get()
        u = os.uname()
        try:
            domain = env.host.read_proc("sys/kernel/domainname").strip()
        except OSError:
            domain = "(none)"
        self._uname = Templates(("domainname", "machine", "nodename", "release", "sysname", "version")).get(
            domain, u.machine, env.host.hostname(), u.release, u.sysname, u.version
        )

    def scrape(self, out: RequestBuilder, now: int) -> None:
        st = self.env.stat()
        sm = out.scope(self.name)
        add_double(_gauge(sm, "node_boot_time_seconds", "Node boot time, in unixtime."),
                   self._gauge, now, float(self.env.boot_time_s))  # fmt: skip
        add_double(_gauge(sm, "node_time_seconds", "System time in seconds since epoch (1970)."),
                   self._gauge, now, time.time())  # fmt: skip
        add_double(_counter(sm, "node_context_switches_total", "Total number of context switches."),
                   self._counter, now, float(st.ctxt))  # fmt: skip
        add_double(_counter(sm, "node_intr_total", "Total number of interrupts serviced."),
                   self._counter, now, float(st.intr))  # fmt: skip
        add_double(_gauge(sm, "node_uname_info", "Labeled system information as provided by the uname system call."),
                   self._uname, now, 1.0)  # fmt: skip
