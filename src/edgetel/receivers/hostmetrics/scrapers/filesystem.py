"""`filesystem`: system.filesystem.* per mounted file system (init's mount table, statvfs of each mount point
under `root_path`). Virtual file systems ("nodev" in /proc/filesystems) are left out unless
`include_virtual_filesystems`, as gopsutil's `Partitions(false)` does for the Collector."""

from __future__ import annotations

import os
from typing import Any

from edgetel.receivers.hostmetrics.filters import NameFilter
from edgetel.receivers.hostmetrics.otlp import RequestBuilder, Templates, add_double, add_int, new_gauge, new_sum
from edgetel.receivers.hostmetrics.procfs import Mount, parse_filesystems, parse_mounts
from edgetel.receivers.hostmetrics.scrapers.base import PartialScrapeError, ScrapeEnv, Scraper

ATTRS = ("device", "mode", "mountpoint", "type")


def statvfs_all(env: ScrapeEnv, mounts: list[Mount]) -> tuple[list[tuple[Mount, os.statvfs_result]], list[str]]:
    """statvfs of each mount point; the mount points that failed are returned apart."""
    ok, failed = [], []
    for m in mounts:
        try:
            ok.append((m, os.statvfs(env.host.host_path(m.mountpoint))))
        except OSError:
            failed.append(m.mountpoint)
    return ok, failed


class FilesystemScraper(Scraper):
    name = "filesystem"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._devices = NameFilter.build(
            cfg.include_devices.devices, cfg.include_devices.match_type,
            cfg.exclude_devices.devices, cfg.exclude_devices.match_type,
        )  # fmt: skip
        self._types = NameFilter.build(
            cfg.include_fs_types.fs_types, cfg.include_fs_types.match_type,
            cfg.exclude_fs_types.fs_types, cfg.exclude_fs_types.match_type,
        )  # fmt: skip
        self._mounts = NameFilter.build(
            cfg.include_mount_points.mount_points, cfg.include_mount_points.match_type,
            cfg.exclude_mount_points.mount_points, cfg.exclude_mount_points.match_type,
        )  # fmt: skip
        self._usage = Templates((*ATTRS, "state"), env.boot_ns)
        self._util = Templates(ATTRS)

    def mounts(self) -> list[Mount]:
        mounts = parse_mounts(self.env.host.mounts_text())
        if not self.cfg.include_virtual_filesystems:
            physical, _ = parse_filesystems(self.env.host.read_proc("filesystems"))
            mounts = [m for m in mounts if m.fstype in physical and m.device != "none"]
        return [m for m in mounts if self._devices(m.device) and self._types(m.fstype) and self._mounts(m.mountpoint)]

    def scrape(self, out: RequestBuilder, now: int) -> None:
        stats, failed = statvfs_all(self.env, self.mounts())
        sm = out.scope(self.name)
        u = self._usage.get
        if self.enabled("system.filesystem.usage"):
            pts = new_sum(sm, "system.filesystem.usage", "Filesystem bytes used.", "By", False)
            for m, s in stats:
                a = (m.device, m.mode, m.mountpoint, m.fstype)
                add_int(pts, u(*a, "used"), now, (s.f_blocks - s.f_bfree) * s.f_frsize)
                add_int(pts, u(*a, "free"), now, s.f_bavail * s.f_frsize)
                add_int(pts, u(*a, "reserved"), now, (s.f_bfree - s.f_bavail) * s.f_frsize)
        if self.enabled("system.filesystem.inodes.usage"):
            pts = new_sum(sm, "system.filesystem.inodes.usage", "FileSystem inodes used.", "{inodes}", False)
            for m, s in stats:
                a = (m.device, m.mode, m.mountpoint, m.fstype)
                add_int(pts, u(*a, "used"), now, s.f_files - s.f_ffree)
                add_int(pts, u(*a, "free"), now, s.f_ffree)
        if self.enabled("system.filesystem.utilization"):
            pts = new_gauge(sm, "system.filesystem.utilization", "Fraction of filesystem bytes used.", "1")
            for m, s in stats:
                if s.f_blocks:
                    tmpl = self._util.get(m.device, m.mode, m.mountpoint, m.fstype)
                    add_double(pts, tmpl, now, (s.f_blocks - s.f_bfree) / s.f_blocks)
        if failed:
            raise PartialScrapeError(f"statvfs failed for {len(failed)} mount point(s): {', '.join(failed[:5])}")
