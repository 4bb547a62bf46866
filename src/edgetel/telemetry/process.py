"""Process-level self metrics: CPU, memory, uptime, build info."""

from __future__ import annotations

import os
import resource
import time

from edgetel import __version__
from edgetel.telemetry.selfmetrics import Registry

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss_bytes() -> float:
    try:
        with open("/proc/self/statm", "rb") as f:
            return float(int(f.read().split()[1]) * _PAGE)
    except OSError:
        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def register_process_metrics(registry: Registry, started: float) -> None:
    def cpu() -> float:
        t = os.times()
        return t.user + t.system

    registry.gauge("edgetel_build_info", "edgetel build information (always 1)", ("version",)).labels(
        __version__
    ).set(1)
    registry.counter("edgetel_process_cpu_seconds_total", "CPU time used by the agent process").set_function(
        (), cpu
    )
    registry.gauge("edgetel_process_resident_memory_bytes", "resident set size of the agent").set_function(
        (), _rss_bytes
    )
    registry.gauge("edgetel_process_uptime_seconds", "seconds since the agent started").set_function(
        (), lambda: time.monotonic() - started
    )
    registry.gauge("edgetel_process_start_time_seconds", "the agent's start time, unix seconds").labels().set(
        time.time() - (time.monotonic() - started)
    )
