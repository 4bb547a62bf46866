"""The memory_limiter processor: refuse data with retry-later while the process is close to its memory limit.

The process RSS is read from /proc/self/statm every `check_interval` by one task per processor id (pipelines
sharing the id share the task). Above the soft limit (`limit - spike`) `consume` raises `RetryableError`, which
receivers turn into their protocol's retry-later answer; above the hard limit the limiter also runs the garbage
collector, returns freed heap to the OS (glibc `malloc_trim`) and asks registered components to shed
(`pressure.shed()`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from edgetel.component.errors import RetryableError
from edgetel.component.factory import CreateContext
from edgetel.component.protocols import Consumer
from edgetel.pdata import Batch
from edgetel.processors.memorylimiter import pressure
from edgetel.processors.memorylimiter.config import MemoryLimiterConfig
from edgetel.telemetry.selfmetrics import Registry

MIB = 1024 * 1024
OK, SOFT, HARD = 0, 1, 2
_PAGE = os.sysconf("SC_PAGE_SIZE")


def read_rss() -> int:
    """The resident set size of this process in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def available_memory() -> int:
    """The memory this process may use: its cgroup's limit when set, else the host's total memory."""
    total = 0
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                total = int(line.split()[1]) * 1024
                break
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        with contextlib.suppress(OSError, ValueError):
            with open(path) as f:
                limit = int(f.read().strip())  # "max" -> ValueError: no limit
            if 0 < limit < (total or limit + 1):
                return limit
    return total


def limits(cfg: MemoryLimiterConfig) -> tuple[int, int]:
    """(hard, soft) limits in bytes."""
    if cfg.limit_mib:
        hard = cfg.limit_mib * MIB
        spike = cfg.spike_limit_mib * MIB if cfg.spike_limit_mib else hard // 5
    else:
        avail = available_memory()
        hard = avail * cfg.limit_percentage // 100
        pct = cfg.spike_limit_percentage
        spike = avail * pct // 100 if pct else hard // 5
    return hard, max(0, hard - spike)


_trim: list[Callable[[int], Any]] = []


def _malloc_trim() -> None:
    """Give freed heap back to the OS (glibc); a no-op elsewhere. ctypes loads only on first use."""
    if not _trim:
        try:
            import ctypes

            _trim.append(ctypes.CDLL("libc.so.6").malloc_trim)
        except (OSError, AttributeError):
            _trim.append(lambda _pad: 0)
    _trim[0](0)


class Monitor:
    """Measures RSS and holds the state (OK / SOFT / HARD) for one processor id."""

    def __init__(self, name: str, hard: int, soft: int, interval: float, logger: logging.Logger, reg: Registry) -> None:
        self.name, self.hard, self.soft, self.interval, self.logger = name, hard, soft, interval, logger
        self.near = soft - (hard - soft) // 2  # within half the spike of the soft limit
        self.state = OK
        self.rss = 0
        self.checked = 0.0
        self.refs = 0
        self.sheds = reg.counter(
            "edgetel_memory_limiter_sheds_total", "checks that found RSS above the hard limit", ("processor",)
        ).labels(name)
        self.shed_items = reg.counter(
            "edgetel_memory_limiter_shed_items_total",
            "items registered components shed on the memory limiter's request",
            ("processor",),
        ).labels(name)
        self._task: asyncio.Task[None] | None = None

    def check(self) -> int:
        self.checked = time.monotonic()
        rss = read_rss()
        if rss >= self.soft:
            # Refused requests leave garbage in reference cycles (exceptions with their tracebacks hold the
            # decoded request): collect it, and hand freed heap back to the OS, before measuring again.
            gc.collect()
            if rss >= self.hard:
                self.sheds.inc()
                self.shed_items.inc(pressure.shed())
            _malloc_trim()
            rss = read_rss()
        state = HARD if rss >= self.hard else SOFT if rss >= self.soft else OK
        if state != self.state:
            fields = {"processor": self.name, "rss_mib": round(rss / MIB, 1),
                      "soft_limit_mib": round(self.soft / MIB, 1), "limit_mib": round(self.hard / MIB, 1)}  # fmt: skip
            if state == OK:
                self.logger.info("memory usage is below the soft limit again; accepting data", extra=fields)
            elif state == SOFT:
                self.logger.warning("memory usage is above the soft limit; refusing data", extra=fields)
            else:
                self.logger.warning("memory usage is above the hard limit; refusing data and shedding", extra=fields)
        self.rss, self.state = rss, state
        return state

    def acquire(self) -> None:
        self.refs += 1
        if self._task is None:
            self.check()
            self._task = asyncio.get_running_loop().create_task(self._loop())

    def release(self) -> bool:
        """True when this was the last user (the task is stopped)."""
        self.refs -= 1
        if self.refs > 0:
            return False
        if self._task is not None:
            self._task.cancel()
            self._task = None
        return True

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.check()
            except Exception as e:  # never let the watcher die silently
                self.logger.error("memory check failed", extra={"processor": self.name, "error": repr(e)})


_monitors: dict[tuple[str, int, int, float], Monitor] = {}


class MemoryLimiter:
    mutates = False

    def __init__(self, ctx: CreateContext, cfg: MemoryLimiterConfig, nxt: Consumer) -> None:
        self.next = nxt
        self.name = str(ctx.id)
        hard, soft = limits(cfg)
        interval = float(cfg.check_interval)
        self._key = (self.name, hard, soft, interval)
        monitor = _monitors.get(self._key)
        if monitor is None:
            monitor = _monitors[self._key] = Monitor(self.name, hard, soft, interval, ctx.logger, ctx.metrics)
        self.monitor = monitor
        self.retry_after = max(1.0, interval)
        reg = ctx.metrics
        self._refused = {
            unit: reg.counter(
                f"edgetel_memory_limiter_refused_{unit}_total",
                f"{unit} the memory limiter refused with retry-later (not dropped: the sender keeps them)",
                ("processor",),
            ).labels(self.name)
            for unit in ("spans", "metric_points")
        }
        reg.gauge(
            "edgetel_memory_limiter_state", "0: below the soft limit, 1: above it, 2: above the hard limit",
            ("processor",),
        ).set_function((self.name,), lambda: float(monitor.state))  # fmt: skip
        reg.gauge("edgetel_memory_limiter_rss_bytes", "the RSS the memory limiter measured last", ("processor",)
                  ).set_function((self.name,), lambda: float(monitor.rss))  # fmt: skip
        reg.gauge("edgetel_memory_limiter_limit_bytes", "the memory limiter's hard limit", ("processor",)
                  ).set_function((self.name,), lambda: float(hard))  # fmt: skip
        self._started = False

    async def start(self) -> None:
        _monitors.setdefault(self._key, self.monitor)
        self.monitor.acquire()
        self._started = True

    async def shutdown(self) -> None:
        if self._started and self.monitor.release():
            _monitors.pop(self._key, None)
        self._started = False

    async def consume(self, batch: Batch) -> None:
        m = self.monitor
        age = time.monotonic() - m.checked
        # Measure here when the watcher is late (a saturated loop) or, close to the soft limit, when the last
        # measurement is more than 10 ms old: a burst between two checks must not run far past the limit.
        if age > m.interval or (age > 0.01 and m.rss > m.near):
            m.check()
        if m.state != OK:
            self._refused[batch.unit].inc(batch.item_count())
            raise RetryableError("memory_limiter: memory usage is above the soft limit", self.retry_after)
        await self.next.consume(batch)
