"""Settings of the hostmetrics receiver: the OpenTelemetry Collector's keys and defaults."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Literal, TypeVar

from edgetel.config.types import Duration

MatchType = Literal["strict", "regexp"]

# Metrics each scraper can emit in `otel` naming, and whether each is on by default (as in the Collector).
KNOWN_METRICS: dict[str, dict[str, bool]] = {
    "cpu": {"system.cpu.time": True, "system.cpu.logical.count": False},
    "memory": {"system.memory.usage": True, "system.memory.utilization": False},
    "load": {
        "system.cpu.load_average.1m": True,
        "system.cpu.load_average.5m": True,
        "system.cpu.load_average.15m": True,
    },
    "disk": {
        "system.disk.io": True,
        "system.disk.operations": True,
        "system.disk.io_time": True,
        "system.disk.operation_time": True,
        "system.disk.weighted_io_time": True,
        "system.disk.pending_operations": True,
        "system.disk.merged": True,
    },
    "filesystem": {
        "system.filesystem.usage": True,
        "system.filesystem.inodes.usage": True,
        "system.filesystem.utilization": False,
    },
    "network": {
        "system.network.io": True,
        "system.network.packets": True,
        "system.network.errors": True,
        "system.network.dropped": True,
        "system.network.connections": True,
    },
    "paging": {
        "system.paging.usage": True,
        "system.paging.operations": True,
        "system.paging.faults": True,
        "system.paging.utilization": False,
    },
    "processes": {"system.processes.count": True, "system.processes.created": True},
    "system": {"system.uptime": True},
    "process": {
        "process.cpu.time": True,
        "process.memory.usage": True,
        "process.memory.virtual": True,
        "process.disk.io": True,
        "process.threads": False,
        "process.paging.faults": False,
        "process.context_switches": False,
        "process.open_file_descriptors": False,
    },
}


@dataclass
class MetricSettings:
    enabled: bool = True


def _check_patterns(key: str, patterns: list[str], match_type: str) -> Iterator[tuple[str, str]]:
    if match_type != "regexp":
        return
    for i, pattern in enumerate(patterns):
        try:
            re.compile(pattern)
        except re.error as e:
            yield f"{key}.{i}", f"invalid regular expression {pattern!r}: {e}"


@dataclass
class DeviceMatch:
    devices: list[str] = field(default_factory=list)
    match_type: MatchType = "strict"

    def validate(self) -> Iterator[tuple[str, str]]:
        yield from _check_patterns("devices", self.devices, self.match_type)


@dataclass
class InterfaceMatch:
    interfaces: list[str] = field(default_factory=list)
    match_type: MatchType = "strict"

    def validate(self) -> Iterator[tuple[str, str]]:
        yield from _check_patterns("interfaces", self.interfaces, self.match_type)


@dataclass
class FSTypeMatch:
    fs_types: list[str] = field(default_factory=list)
    match_type: MatchType = "strict"

    def validate(self) -> Iterator[tuple[str, str]]:
        yield from _check_patterns("fs_types", self.fs_types, self.match_type)


@dataclass
class MountPointMatch:
    mount_points: list[str] = field(default_factory=list)
    match_type: MatchType = "strict"

    def validate(self) -> Iterator[tuple[str, str]]:
        yield from _check_patterns("mount_points", self.mount_points, self.match_type)


@dataclass
class NameMatch:
    names: list[str] = field(default_factory=list)
    match_type: MatchType = "strict"

    def validate(self) -> Iterator[tuple[str, str]]:
        yield from _check_patterns("names", self.names, self.match_type)


class _Scraper:
    """Marks a scraper config that the user did not write (see `ScrapersConfig.enabled`)."""

    metrics: dict[str, MetricSettings]
    scraper_name = ""

    def metric_enabled(self, name: str) -> bool:
        setting = self.metrics.get(name)
        return setting.enabled if setting is not None else KNOWN_METRICS[self.scraper_name][name]

    def validate(self) -> Iterator[tuple[str, str]]:
        known = KNOWN_METRICS[self.scraper_name]
        for name in self.metrics:
            if name not in known:
                yield f"metrics.{name}", f"unknown metric; this scraper has {', '.join(sorted(known))}"


@dataclass
class CPUConfig(_Scraper):
    metrics: dict[str, MetricSettings] = field(default_factory=dict)
    scraper_name = "cpu"


@dataclass
class MemoryConfig(_Scraper):
    metrics: dict[str, MetricSettings] = field(default_factory=dict)
    scraper_name = "memory"


@dataclass
class LoadConfig(_Scraper):
    metrics: dict[str, MetricSettings] = field(default_factory=dict)
    cpu_average: bool = False  # divide the load averages by the number of logical CPUs
    scraper_name = "load"


@dataclass
class DiskConfig(_Scraper):
    metrics: dict[str, MetricSettings] = field(default_factory=dict)
    include: DeviceMatch = field(default_factory=DeviceMatch)
    exclude: DeviceMatch = field(default_factory=DeviceMatch)
    scraper_name = "disk"


@dataclass
class FilesystemConfig(_Scraper):
    metrics: dict[str, MetricSettings] = field(default_factory=dict)
    include_devices: DeviceMatch = field(default_factory=DeviceMatch)
    exclude_devices: DeviceMatch = field(default_factory=DeviceMatch)
    include_fs_types: FSTypeMatch = field(default_factory=FSTypeMatch)
    exclude_fs_types: FSTypeMatch = field(default_factory=FSTypeMatch)
    include_mount_points: MountPointMatch = field(default_factory=MountPointMatch)
    exclude_mount_points: MountPointMatch = field(default_factory=MountPointMatch)
    include_virtual_filesystems: bool = False
    scraper_name = "filesystem"


@dataclass
class NetworkConfig(_Scraper):
    metrics: dict[str, MetricSettings] = field(default_factory=dict)
    include: InterfaceMatch = field(default_factory=InterfaceMatch)
    exclude: InterfaceMatch = field(default_factory=InterfaceMatch)
    scraper_name = "network"


@dataclass
class PagingConfig(_Scraper):
    metrics: dict[str, MetricSettings] = field(default_factory=dict)
    scraper_name = "paging"


@dataclass
class ProcessesConfig(_Scraper):
    metrics: dict[str, MetricSettings] = field(default_factory=dict)
    scraper_name = "processes"


@dataclass
class SystemConfig(_Scraper):
    metrics: dict[str, MetricSettings] = field(default_factory=dict)
    scraper_name = "system"


@dataclass
class ProcessConfig(_Scraper):
    metrics: dict[str, MetricSettings] = field(default_factory=dict)
    include: NameMatch = field(default_factory=NameMatch)
    exclude: NameMatch = field(default_factory=NameMatch)
    mute_process_name_error: bool = False
    mute_process_exe_error: bool = False
    mute_process_io_error: bool = False
    mute_process_user_error: bool = False
    mute_process_all_errors: bool = False
    scrape_process_delay: Duration = field(default_factory=lambda: Duration(0.0))
    scraper_name = "process"


_ABSENT = "_edgetel_absent"
S = TypeVar("S", bound=_Scraper)


def _absent(cls: type[S]) -> Callable[[], S]:
    """A default factory for a scraper key the user did not write."""

    def make() -> S:
        obj = cls()
        setattr(obj, _ABSENT, True)
        return obj

    return make


DEFAULT_SCRAPERS = ("cpu", "memory", "load", "disk", "filesystem", "network", "paging", "processes", "system")


@dataclass
class ScrapersConfig:
    """One key per scraper. When none is written, every scraper but `process` runs."""

    cpu: CPUConfig = field(default_factory=_absent(CPUConfig))
    memory: MemoryConfig = field(default_factory=_absent(MemoryConfig))
    load: LoadConfig = field(default_factory=_absent(LoadConfig))
    disk: DiskConfig = field(default_factory=_absent(DiskConfig))
    filesystem: FilesystemConfig = field(default_factory=_absent(FilesystemConfig))
    network: NetworkConfig = field(default_factory=_absent(NetworkConfig))
    paging: PagingConfig = field(default_factory=_absent(PagingConfig))
    processes: ProcessesConfig = field(default_factory=_absent(ProcessesConfig))
    system: SystemConfig = field(default_factory=_absent(SystemConfig))
    process: ProcessConfig = field(default_factory=_absent(ProcessConfig))

    def enabled(self) -> dict[str, _Scraper]:
        """The scrapers to run, by name, in a fixed order."""
        written = {
            f.name: getattr(self, f.name) for f in fields(self) if not getattr(getattr(self, f.name), _ABSENT, False)
        }
        if not written:
            return {name: getattr(self, name) for name in DEFAULT_SCRAPERS}
        return written


@dataclass
class HostMetricsConfig:
    collection_interval: Duration = field(default_factory=lambda: Duration(10.0))
    initial_delay: Duration = field(default_factory=lambda: Duration(1.0))
    root_path: str = ""
    metric_names: Literal["otel", "node_exporter"] = "otel"
    scrapers: ScrapersConfig = field(default_factory=ScrapersConfig)

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.collection_interval <= 0:
            yield "collection_interval", "must be greater than 0"
        if self.root_path:
            if not os.path.isabs(self.root_path):
                yield "root_path", "must be an absolute path such as /hostfs"
            elif not os.path.isdir(self.root_path):
                yield "root_path", f"directory {self.root_path!r} does not exist"
            elif not os.path.isfile(os.path.join(self.root_path, "proc", "stat")):
                yield "root_path", f"no proc file system under {self.root_path!r} ({self.root_path}/proc/stat)"
