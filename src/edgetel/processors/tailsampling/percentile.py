"""The `latency_percentile` policy: keep a trace at or above the learned percentile of its group."""

from __future__ import annotations

import math
from math import ceil, log
from typing import TYPE_CHECKING

from edgetel.processors.tailsampling.sketch import INV_LOG_GAMMA, WindowedSketch

if TYPE_CHECKING:
    from edgetel.processors.tailsampling.policies import TraceInfo

NO_ROOT_GROUP = ("<no root span>",)
OVERFLOW_KEY = ("\x00overflow",)
DETECT_Z = 4.0  # standard errors beyond which the last window disagrees with the long history (max_window)
LONG_TOP = 1024  # exact top values per slot of a max_window sketch (its P99 exact up to 102,400 traces)
CHECK_EVERY = 5.0  # seconds between two checks of a group's last window against its long history


def normal_quantile(p: float) -> float:
    """z with Phi(z) = p (0 < p < 1), by bisection (statistics.NormalDist costs its imports at startup)."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


class LatencyPercentile:
    """Kept when the trace's duration is at or above the learned percentile of its group.

    With `max_window` a group also learns over that longer history (more traces: a more precise percentile, see
    docs/sampling.md, "The bound") and uses it while the last `window` agrees: while the share of that window's
    traces at or above the long history's threshold is within DETECT_Z standard errors (plus one trace) of the
    long history's own share. After a real latency change it is not, and the group follows `window` alone until
    the long history has caught up."""

    def __init__(self, name: str, percentile: float, group_by: list[str], window: float, min_traces: int,
                 max_groups: int, confidence: float = 50.0, max_window: float = 0.0) -> None:  # fmt: skip
        self.name = name
        self.q = percentile / 100.0
        # The threshold is a lower confidence bound for the percentile (z standard errors below the estimate):
        # missing a trace above the true percentile costs more than keeping one just below it.
        self.z = normal_quantile(confidence / 100.0) if confidence > 50.0 else 0.0
        self.group_by = list(group_by)
        self._default = list(group_by) == ["service.name", "span.name"]
        self.window = window
        self.min_traces = min_traces
        self.max_groups = max_groups
        self.groups: dict[tuple[str, ...], WindowedSketch] = {}
        self.overflow = WindowedSketch(window)
        self.all = WindowedSketch(window, max_bins=2048, top=0)  # only a stand-in while groups learn
        self.max_window = max_window if max_window > window else 0.0
        self.long: dict[tuple[str, ...], WindowedSketch] = {}  # per group key (OVERFLOW_KEY: the overflow group)
        self._agree: dict[tuple[str, ...], tuple[float, bool]] = {}  # key -> (checked at, long history agrees)

    @property
    def signature(self) -> tuple[object, ...]:
        # z may change: it is read per call
        return (self.q, tuple(self.group_by), self.window, self.max_groups, self.max_window)

    def adopt(self, other: LatencyPercentile) -> None:
        """Continue with what `other` (the same policy before a config reload) has learned."""
        if other.signature == self.signature:
            self.groups, self.overflow, self.all = other.groups, other.overflow, other.all
            self.long, self._agree = other.long, other._agree

    def group_key(self, info: TraceInfo) -> tuple[str, ...]:
        t = info.trace
        if t.root_name is None:
            # Incomplete (the root is late, lost, or on another host): its duration is not comparable with
            # complete traces of any endpoint, so such traces learn a percentile of their own.
            return NO_ROOT_GROUP
        out = []
        for k in self.group_by:
            if k == "service.name":
                entry = info.scopes.entries.get(t.root_scope)
                if entry is None:
                    entry = info.scopes.entries.get(t.sid)
                out.append(entry.service if entry is not None else "")
            elif k == "span.name":
                out.append(t.root_name)
            else:
                out.append(info.root_attribute(k))
        return tuple(out)

    def sketch_for(self, key: tuple[str, ...]) -> WindowedSketch:
        sk = self.groups.get(key)
        if sk is None:
            if len(self.groups) >= self.max_groups:
                return self.overflow
            sk = self.groups[key] = WindowedSketch(self.window)
        return sk

    def threshold(self, key: tuple[str, ...], now: float, sk: WindowedSketch | None = None) -> float | None:
        """What a trace of group `key` (whose sketch is `sk`) is compared with at `now`."""
        if sk is None:
            sk = self.groups.get(key, self.overflow)
        if sk.count >= self.min_traces:
            thr = sk.quantile_cached(self.q, now, self.z)
        else:
            thr = self.all.quantile_cached(self.q, now, self.z)
        if self.max_window:
            lkey = key if sk is not self.overflow else OVERFLOW_KEY
            lsk = self.long.get(lkey)
            if lsk is not None and lsk.count > sk.count >= self.min_traces:
                # The long history changes slowly: its percentile is recomputed after 1/64 of it or a minute.
                long_thr = lsk.quantile_cached(self.q, now, self.z, max_age=60.0)
                if long_thr is not None and self._agrees(lkey, sk, lsk, long_thr, now):
                    thr = long_thr
        return thr

    def evaluate(self, info: TraceInfo) -> int | None:
        t = info.trace
        if self._default and t.root_name is not None:
            entry = info.scopes.entries.get(t.root_scope)
            key: tuple[str, ...] = (entry.service if entry is not None else "", t.root_name)
        else:
            key = self.group_key(info)
        sk = self.groups.get(key)
        if sk is None:
            sk = self.sketch_for(key)
        now = info.now
        if self.max_window:
            thr = self.threshold(key, now, sk)
        elif sk.count >= self.min_traces:
            thr = sk.quantile_cached(self.q, now, self.z)
        else:
            thr = self.all.quantile_cached(self.q, now, self.z)
        d = (t.end - t.start) / 1e9
        if d > 0.0:
            k: int | None = ceil(log(d) * INV_LOG_GAMMA)
        else:
            k, d = None, 0.0
        if self.max_window:
            self._long_sketch(key if sk is not self.overflow else OVERFLOW_KEY).add_key(k, now, d)
        sk.add_key(k, now, d)
        self.all.add_key(k, now, d)
        return 0 if thr is not None and d >= thr else None

    def _long_sketch(self, key: tuple[str, ...]) -> WindowedSketch:
        lsk = self.long.get(key)
        if lsk is None:
            lsk = self.long[key] = WindowedSketch(self.max_window, top=LONG_TOP)
        return lsk

    def _agrees(self, key: tuple[str, ...], sk: WindowedSketch, lsk: WindowedSketch, thr: float,
                now: float) -> bool:  # fmt: skip
        """Whether the last `window` has the long history's share of traces at or above `thr`, within DETECT_Z
        standard errors (checked every CHECK_EVERY seconds)."""
        at, ok = self._agree.get(key, (-math.inf, False))
        if 0.0 <= now - at < CHECK_EVERY:
            return ok
        above = sk.count_at_least(thr, now) if thr > 0.0 else None
        above_long = lsk.count_at_least(thr, now) if above is not None else None
        ok = False
        if above is not None and above_long is not None and lsk.count:
            n, p = sk.count, above_long / lsk.count
            ok = abs(above - n * p) <= DETECT_Z * math.sqrt(n * p * (1.0 - p)) + 1.0
        self._agree[key] = (now, ok)
        return ok
