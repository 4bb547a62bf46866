"""`process` (opt-in): per-process metrics, one resource per process, from /proc/<pid>/*.

Reading another user's /proc/<pid>/exe or io is refused unless the agent runs as root: the Collector logs
such an error per process and scrape (its most common complaint). Here each refusal is counted by kind
(`name`, `exe`, `io`, `user`) in `last_errors`; the receiver counts them and logs one line per scrape at most,
and none for the kinds muted with `mute_process_*_error`. A process that exits while being read is skipped.
"""

from __future__ import annotations

import os
import pwd
import time
from typing import Any

from edgetel.receivers.hostmetrics.filters import NameFilter
from edgetel.receivers.hostmetrics.otlp import RequestBuilder, Templates, add_double, add_int, kv, new_sum
from edgetel.receivers.hostmetrics.procfs import USER_HZ
from edgetel.receivers.hostmetrics.scrapers.base import ScrapeEnv, Scraper

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ProcessStat:
    """The fields of /proc/<pid>/stat this scraper uses."""

    __slots__ = ("comm", "majflt", "minflt", "ppid", "rss", "starttime", "stime", "threads", "utime", "vsize", "wait")

    def __init__(self, text: str) -> None:
        # comm may hold spaces and parentheses: it ends at the last ')'.
        open_paren, close_paren = text.index("("), text.rindex(")")
        self.comm = text[open_paren + 1 : close_paren]
        f = text[close_paren + 2 :].split()
        # f[0] is field 3 (state) of proc(5)
        self.ppid = int(f[1])
        self.minflt, self.majflt = int(f[7]), int(f[9])
        self.utime, self.stime = int(f[11]), int(f[12])
        self.threads = int(f[17])
        self.starttime = int(f[19])
        self.vsize, self.rss = int(f[20]), int(f[21]) * PAGE_SIZE
        self.wait = int(f[39]) if len(f) > 39 else 0  # delayacct_blkio_ticks


class ProcessScraper(Scraper):
    name = "process"

    def __init__(self, cfg: Any, env: ScrapeEnv) -> None:
        super().__init__(cfg, env)
        self._filter = NameFilter.build(
            cfg.include.names, cfg.include.match_type, cfg.exclude.names, cfg.exclude.match_type
        )
        self._users: dict[int, str] = {}
        self.last_errors: dict[str, int] = {}
        self.example_pid: dict[str, int] = {}
        self._cpu = Templates(("state",))
        self._dir = Templates(("direction",))
        self._type = Templates(("type",))
        self._none = Templates(()).get()
        muted = {
            "name": cfg.mute_process_name_error,
            "exe": cfg.mute_process_exe_error,
            "io": cfg.mute_process_io_error,
            "user": cfg.mute_process_user_error,
        }
        self.muted = {k for k, v in muted.items() if v or cfg.mute_process_all_errors}

    def _error(self, kind: str, pid: int) -> None:
        self.last_errors[kind] = self.last_errors.get(kind, 0) + 1
        self.example_pid.setdefault(kind, pid)

    def _owner(self, uid: int) -> str:
        name = self._users.get(uid)
        if name is None:
            try:
                name = pwd.getpwuid(uid).pw_name
            except KeyError:
                name = str(uid)
            if len(self._users) > 1024:
                self._users.clear()
            self._users[uid] = name
        return name

    def pids(self) -> list[int]:
        return [int(p) for p in os.listdir(self.env.host.proc) if p.isdigit()]

    def scrape(self, out: RequestBuilder, now: int) -> None:
        self.last_errors, self.example_pid = {}, {}
        host = self.env.host
        delay_ticks = self.cfg.scrape_process_delay * USER_HZ
        uptime_ticks = (time.time() - self.env.boot_time_s) * USER_HZ if delay_ticks else 0
        for pid in self.pids():
            try:
                stat = ProcessStat(host.read_proc(f"{pid}/stat"))
            except (FileNotFoundError, ProcessLookupError):
                continue  # exited
            except PermissionError:
                self._error("name", pid)
                continue
            except (OSError, ValueError, IndexError):
                self._error("name", pid)
                continue
            if not self._filter(stat.comm):
                continue
            if delay_ticks and uptime_ticks - stat.starttime < delay_ticks:
                continue
            try:
                self._emit(out, now, pid, stat)
            except (FileNotFoundError, ProcessLookupError):
                continue

    def _emit(self, out: RequestBuilder, now: int, pid: int, stat: ProcessStat) -> None:
        host = self.env.host
        attrs = [kv("process.pid", pid), kv("process.parent_pid", stat.ppid), kv("process.executable.name", stat.comm)]
        try:
            attrs.append(kv("process.executable.path", os.readlink(f"{host.proc}/{pid}/exe")))
        except PermissionError:
            self._error("exe", pid)
        except FileNotFoundError:
            pass  # kernel threads have no executable
        cmdline = host.read_proc_bytes(f"{pid}/cmdline").rstrip(b"\0").split(b"\0")
        if cmdline and cmdline[0]:
            args = [a.decode("utf-8", "replace") for a in cmdline]
            attrs.append(kv("process.command", args[0]))
            attrs.append(kv("process.command_line", " ".join(args)))
        try:
            uid = os.stat(f"{host.proc}/{pid}").st_uid
            attrs.append(kv("process.owner", self._owner(uid)))
        except PermissionError:
            self._error("user", pid)
        io: dict[str, int] | None = None
        if self.enabled("process.disk.io"):
            try:
                io = {}
                for line in host.read_proc(f"{pid}/io").splitlines():
                    key, _, val = line.partition(": ")
                    io[key] = int(val)
            except PermissionError:
                io = None
                self._error("io", pid)

        sm = out.resource(self.name, attrs)
        start = self.env.boot_ns + stat.starttime * 1_000_000_000 // USER_HZ
        if self.enabled("process.cpu.time"):
            pts = new_sum(sm, "process.cpu.time", "Total CPU seconds broken down by different states.", "s", True)
            for state, ticks in (("user", stat.utime), ("system", stat.stime), ("wait", stat.wait)):
                add_double(pts, self._cpu.get(state), now, ticks / USER_HZ)
                pts[-1].start_time_unix_nano = start
        if self.enabled("process.memory.usage"):
            pts = new_sum(sm, "process.memory.usage", "The amount of physical memory in use.", "By", False)
            add_int(pts, self._none, now, stat.rss)
            pts[-1].start_time_unix_nano = start
        if self.enabled("process.memory.virtual"):
            pts = new_sum(sm, "process.memory.virtual", "Virtual memory size.", "By", False)
            add_int(pts, self._none, now, stat.vsize)
            pts[-1].start_time_unix_nano = start
        if io is not None:
            pts = new_sum(sm, "process.disk.io", "Disk bytes transferred.", "By", True)
            for direction, key in (("read", "read_bytes"), ("write", "write_bytes")):
                add_int(pts, self._dir.get(direction), now, io.get(key, 0))
                pts[-1].start_time_unix_nano = start
        if self.enabled("process.threads"):
            pts = new_sum(sm, "process.threads", "Process threads count.", "{threads}", False)
            add_int(pts, self._none, now, stat.threads)
            pts[-1].start_time_unix_nano = start
        if self.enabled("process.paging.faults"):
            pts = new_sum(sm, "process.paging.faults", "Number of page faults the process has made.", "{faults}", True)
            for typ, n in (("major", stat.majflt), ("minor", stat.minflt)):
                add_int(pts, self._type.get(typ), now, n)
                pts[-1].start_time_unix_nano = start
        if self.enabled("process.context_switches"):
            self._context_switches(sm, now, pid, start)
        if self.enabled("process.open_file_descriptors"):
            try:
                n = len(os.listdir(f"{host.proc}/{pid}/fd"))
            except PermissionError:
                self._error("io", pid)
            else:
                pts = new_sum(
                    sm, "process.open_file_descriptors", "Number of file descriptors in use by the process.",
                    "{count}", False,
                )  # fmt: skip
                add_int(pts, self._none, now, n)
                pts[-1].start_time_unix_nano = start

    def _context_switches(self, sm: Any, now: int, pid: int, start: int) -> None:
        counts = {}
        for line in self.env.host.read_proc(f"{pid}/status").splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                key, _, val = line.partition(":")
                counts["voluntary" if key.startswith("v") else "involuntary"] = int(val)
        pts = new_sum(sm, "process.context_switches", "Number of times the process has been context switched.",
                      "{count}", True)  # fmt: skip
        for typ, n in counts.items():
            add_int(pts, self._type.get(typ), now, n)
            pts[-1].start_time_unix_nano = start
