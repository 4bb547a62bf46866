"""Reading the host's /proc and /sys under a root path (`/` normally, `/hostfs` in a container, a fixture
directory in tests).

These are the same files psutil and gopsutil parse. They are read here with an explicit root instead of
through psutil's module-global `PROCFS_PATH`, because that global cannot serve two roots at once and would
also redirect the agent's own process metrics into the host's pid namespace. The parsers are pure functions of
the file text, so they can be tested without a machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

# Kernel clock ticks per second for /proc/stat and /proc/<pid>/stat (USER_HZ, 100 on every Linux ABI).
USER_HZ: int = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
SECTOR_SIZE = 512  # /proc/diskstats counts 512-byte sectors whatever the device's sector size


class HostPaths:
    """Where the host's files are: `root` + /proc, /sys, /etc and the mount points."""

    def __init__(self, root: str = "") -> None:
        root = root.rstrip("/")
        self.root = root  # "" for the real root
        self.proc = f"{root}/proc"
        self.sys = f"{root}/sys"

    def read_proc(self, rel: str) -> str:
        with open(f"{self.proc}/{rel}", encoding="utf-8", errors="replace") as f:
            return f.read()

    def read_proc_bytes(self, rel: str) -> bytes:
        with open(f"{self.proc}/{rel}", "rb") as f:
            return f.read()

    def host_path(self, path: str) -> str:
        """A host path (a mount point) as seen from here."""
        return f"{self.root}{path}" if self.root else path

    def mounts_text(self) -> str:
        """The host's mount table: init's (pid 1) view, as the Collector and node_exporter read it."""
        try:
            return self.read_proc("1/mounts")
        except OSError:
            return self.read_proc("self/mounts")

    def hostname(self) -> str:
        if self.root:
            for rel in ("etc/hostname",):
                try:
                    with open(f"{self.root}/{rel}", encoding="utf-8") as f:
                        name = f.read().strip()
                    if name:
                        return name
                except OSError:
                    pass
        return os.uname().nodename


@dataclass
class Stat:
    """/proc/stat: per-CPU tick counters and the system-wide lines."""

    cpus: list[tuple[str, list[int]]] = field(default_factory=list)  # ("0", [user, nice, system, ...])
    btime: int = 0
    processes: int = 0
    procs_running: int = 0
    procs_blocked: int = 0
    ctxt: int = 0
    intr: int = 0


def parse_stat(text: str) -> Stat:
    st = Stat()
    for line in text.splitlines():
        if line.startswith("cpu"):
            name, _, rest = line.partition(" ")
            if name == "cpu":
                continue
            st.cpus.append((name[3:], [int(x) for x in rest.split()]))
            continue
        key, _, rest = line.partition(" ")
        if key == "btime":
            st.btime = int(rest)
        elif key == "processes":
            st.processes = int(rest)
        elif key == "procs_running":
            st.procs_running = int(rest)
        elif key == "procs_blocked":
            st.procs_blocked = int(rest)
        elif key == "ctxt":
            st.ctxt = int(rest)
        elif key == "intr":
            st.intr = int(rest.split(None, 1)[0])
    return st


def parse_meminfo(text: str) -> dict[str, tuple[int, bool]]:
    """Field -> (value in bytes or a count, whether the file gave a kB unit)."""
    out: dict[str, tuple[int, bool]] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        if not parts:
            continue
        if len(parts) > 1:  # "kB", the only unit the kernel writes
            out[key] = (int(parts[0]) * 1024, True)
        else:
            out[key] = (int(parts[0]), False)
    return out


def parse_loadavg(text: str) -> tuple[float, float, float]:
    a, b, c = text.split()[:3]
    return float(a), float(b), float(c)


def parse_uptime(text: str) -> float:
    return float(text.split(maxsplit=1)[0])


def parse_net_dev(text: str) -> list[tuple[str, list[int]]]:
    """Interface -> the 16 counters (8 receive: bytes packets errs drop fifo frame compressed multicast;
    8 transmit: bytes packets errs drop fifo colls carrier compressed)."""
    out = []
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        values = [int(x) for x in rest.split()]
        if len(values) < 16:
            values += [0] * (16 - len(values))
        out.append((name.strip(), values[:16]))
    return out


def parse_diskstats(text: str) -> list[tuple[str, str, str, list[int]]]:
    """(major, minor, device, counters) with counters padded to 17: reads, reads merged, sectors read,
    read ms, writes, writes merged, sectors written, write ms, in progress, io ms, weighted io ms,
    discards, discards merged, sectors discarded, discard ms, flushes, flush ms."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 14:
            continue
        values = [int(x) for x in parts[3:]]
        if len(values) < 17:
            values += [0] * (17 - len(values))
        out.append((parts[0], parts[1], parts[2], values[:17]))
    return out


def parse_vmstat(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        key, _, val = line.partition(" ")
        if val:
            out[key] = int(val)
    return out


def parse_swaps(text: str) -> list[tuple[str, int, int]]:
    """(device, size bytes, used bytes) per swap area."""
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 4:
            out.append((_unescape(parts[0]), int(parts[2]) * 1024, int(parts[3]) * 1024))
    return out


def _unescape(text: str) -> str:
    """Mount tables escape space, tab, newline and backslash as octal (\\040)."""
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 4 <= len(text) and text[i + 1 : i + 4].isdigit():
            out.append(chr(int(text[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class Mount:
    device: str
    mountpoint: str
    fstype: str
    options: str

    @property
    def mode(self) -> str:
        return "ro" if "ro" in self.options.split(",") else "rw"


def parse_mounts(text: str) -> list[Mount]:
    out = []
    for line in text.split("\n"):
        parts = line.split(" ")  # only single spaces separate fields: other whitespace is part of a path
        if len(parts) >= 4:
            out.append(Mount(_unescape(parts[0]), _unescape(parts[1]), parts[2], parts[3]))
    return out


def parse_filesystems(text: str) -> tuple[set[str], set[str]]:
    """(device-backed types, virtual "nodev" types) from /proc/filesystems."""
    physical, virtual = set(), set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "nodev":
            virtual.add(parts[1])
        elif len(parts) == 1:
            physical.add(parts[0])
    return physical, virtual


# /proc/net/tcp state codes, named as gopsutil (and so the Collector) names them.
TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
    "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}  # fmt: skip


def count_tcp_states(text: str, counts: dict[str, int]) -> None:
    """Add the connections of one /proc/net/tcp{,6} table to `counts` (state name -> connections)."""
    for line in text.splitlines()[1:]:
        parts = line.split(None, 4)
        if len(parts) >= 4:
            name = TCP_STATES.get(parts[3])
            if name is not None:
                counts[name] = counts.get(name, 0) + 1


_NETLINK_INET_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TCP_STATE_BY_NUMBER = {int(code, 16): name for code, name in TCP_STATES.items()}


def count_tcp_states_netlink(counts: dict[str, int], sockstat: str | None = None) -> None:
    """Count this network namespace's TCP sockets by state with one sock_diag dump per address family.

    Reading /proc/net/tcp costs the kernel a walk of the whole connection hash table per read (~5 ms of CPU
    on a small VM); the dump costs about a tenth of that. TIME_WAIT sockets, often thousands, are left out
    of the dump when `sockstat` (the text of /proc/net/sockstat, whose `tw` is their count) is given."""
    import socket
    import struct

    states = 0xFFF
    if sockstat is not None:
        tw = _sockstat_tw(sockstat)
        if tw is not None:
            counts["TIME_WAIT"] = counts.get("TIME_WAIT", 0) + tw
            states &= ~(1 << 6)

    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_INET_DIAG) as s:
        s.settimeout(2.0)
        for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), start=1):
            # struct inet_diag_req_v2: family, protocol, ext, pad, states bitmap, zeroed inet_diag_sockid
            req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, states) + bytes(48)
            s.send(struct.pack("=IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, seq, 0) + req)
            done = False
            while not done:
                data = s.recv(1 << 17)
                if not data:
                    break
                if _count_uniform(data, counts):
                    continue
                off = 0
                while off + 16 <= len(data):
                    length, kind = struct.unpack_from("=IH", data, off)
                    if kind == _NLMSG_DONE:
                        done = True
                        break
                    if kind == _NLMSG_ERROR:
                        (errno,) = struct.unpack_from("=i", data, off + 16)
                        if errno == 0:
                            off += (length + 3) & ~3
                            continue
                        raise OSError(-errno, "sock_diag dump failed")
                    name = _TCP_STATE_BY_NUMBER.get(data[off + 17])  # inet_diag_msg.idiag_state
                    if name is not None:
                        counts[name] = counts.get(name, 0) + 1
                    off += max(16, (length + 3) & ~3)


def _sockstat_tw(text: str) -> int | None:
    for line in text.splitlines():
        if line.startswith("TCP:"):
            parts = line.split()
            for name, value in zip(parts[1::2], parts[2::2], strict=False):
                if name == "tw":
                    return int(value)
    return None


def _count_uniform(data: bytes, counts: dict[str, int]) -> bool:
    """Count a buffer of same-length socket messages with byte slices instead of a Python loop per socket
    (thousands of TIME_WAIT sockets are common). False when the buffer is not like that."""
    length = int.from_bytes(data[0:4], "little")
    if length < 18 or length % 4 or len(data) % length:
        return False
    n = len(data) // length
    lo, hi = length & 0xFF, length >> 8
    if (
        data[0::length] != bytes([lo]) * n
        or data[1::length] != bytes([hi & 0xFF]) * n
        or data[2::length] != bytes([hi >> 8]) * n
        or data[3::length] != bytes(n)
        or data[4::length] != bytes([_SOCK_DIAG_BY_FAMILY]) * n
        or data[5::length] != bytes(n)
    ):
        return False
    states = data[17::length]
    for number, name in _TCP_STATE_BY_NUMBER.items():
        c = states.count(number)
        if c:
            counts[name] = counts.get(name, 0) + c
    return True
