"""A sliding-window quantile sketch: the largest values exactly, the rest in 1%-wide buckets, bounded memory.

Upper quantiles (the P99 that `latency_percentile` needs) come from the top of the distribution, so each time slot
keeps its `top` largest values exactly (a min-heap). The k-th largest value of the window is then exact whenever
k <= `top`: each slot's share of the window's k largest values is among that slot's k largest. For P99 that covers
groups with up to 100 * `top` values in the window (25,600 for the default 256).

Beyond that, values are counted in logarithmic buckets: bucket k holds (G**(k-1), G**k] with G = 1.01, and the
answer is interpolated (geometrically) inside the bucket holding the value of that rank, so it is within 1% of the
exact value. Memory: at most `max_bins` buckets; when a group's values span more than G**max_bins (a factor of
~160 for 512 bins) the lowest buckets are merged, which only blurs low quantiles. The window is `slots` slots; the
oldest slot is subtracted from the running totals when it expires.

`quantile(q, now, z)` with z > 0 answers a one-sided lower confidence bound for the percentile instead of the
point estimate: the value of rank ceil(n*q - z*sqrt(n*q*(1-q))). By the binomial law of order statistics the true
q-quantile of the distribution the window was drawn from is at or above that value with probability ~Phi(z),
whatever the distribution.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from heapq import heappush, heapreplace
from itertools import chain

GAMMA = 1.01
_LOG_GAMMA = math.log(GAMMA)
INV_LOG_GAMMA = 1.0 / _LOG_GAMMA
DEFAULT_TOP = 256


def bucket_key(value: float) -> int:
    return math.ceil(math.log(value) * INV_LOG_GAMMA)


def bucket_lower(key: int) -> float:
    return float(GAMMA ** (key - 1))


class _Slot:
    __slots__ = ("bins", "number", "top", "zeros")

    def __init__(self, number: int) -> None:
        self.number = number
        self.bins: dict[int, int] = {}
        self.zeros = 0
        self.top: list[float] = []  # min-heap of the slot's largest values


class WindowedSketch:
    """Counts over the last `window` seconds, in `slots` slots; `quantile(q, now)`."""

    __slots__ = ("_cache_at", "_cache_q", "_cache_v", "_dirty", "_slot_len", "_slots", "count", "floor",
                 "max_bins", "nslots", "top", "total", "zeros")  # fmt: skip

    def __init__(self, window: float = 300.0, slots: int = 5, max_bins: int = 512, top: int = DEFAULT_TOP) -> None:
        self.nslots = max(1, slots)
        self._slot_len = max(window, 1e-3) / self.nslots
        self.max_bins = max(8, max_bins)
        self.top = max(0, top)
        self._slots: deque[_Slot] = deque()
        self.total: dict[int, int] = {}
        self.zeros = 0
        self.count = 0
        self.floor: int | None = None
        self._cache_q = -1.0
        self._cache_v = 0.0
        self._cache_at = -math.inf
        self._dirty = 0

    def _current(self, now: float) -> _Slot:
        number = int(now // self._slot_len)
        slots = self._slots
        if slots and slots[-1].number == number:
            return slots[-1]
        self._expire(number)
        slot = _Slot(number)
        slots.append(slot)
        return slot

    def _expire(self, number: int) -> None:
        slots, total = self._slots, self.total
        while slots and slots[0].number <= number - self.nslots:
            old = slots.popleft()
            for k, n in old.bins.items():
                left = total[k] - n
                if left:
                    total[k] = left
                else:
                    del total[k]
            self.zeros -= old.zeros
            self.count -= sum(old.bins.values()) + old.zeros
            self._dirty += 1 << 30  # force a recompute
        if not total:
            self.floor = None

    def add(self, value: float, now: float) -> None:
        self.add_key(bucket_key(value) if value > 0.0 else None, now, value)

    def add_key(self, k: int | None, now: float, value: float) -> None:
        """Count `value` whose bucket key is `k` (None: a value <= 0)."""
        slots = self._slots
        slot = slots[-1] if slots and slots[-1].number == int(now // self._slot_len) else self._current(now)
        self.count += 1
        self._dirty += 1
        top = slot.top
        if len(top) < self.top:
            heappush(top, value if k is not None else 0.0)
        elif top and value > top[0]:
            heapreplace(top, value)
        if k is None:
            slot.zeros += 1
            self.zeros += 1
            return
        if self.floor is not None and k < self.floor:
            k = self.floor
        bins = slot.bins
        bins[k] = bins.get(k, 0) + 1
        total = self.total
        n = total.get(k, 0)
        total[k] = n + 1
        if not n and len(total) > self.max_bins:
            self._collapse()

    def _collapse(self) -> None:
        """Merge the lowest buckets so that 3/4 of `max_bins` remain (in the totals and in every slot); the
        slack makes the next merge hundreds of new buckets away."""
        keys = sorted(self.total)
        floor = keys[len(keys) - self.max_bins * 3 // 4]
        self.floor = floor
        for bins in [self.total, *(s.bins for s in self._slots)]:
            low = [k for k in bins if k < floor]
            if low:
                bins[floor] = bins.get(floor, 0) + sum(bins.pop(k) for k in low)

    def quantile(self, q: float, now: float | None = None, z: float = 0.0) -> float | None:
        """The q-quantile (0 < q <= 1) of the values in the window (with z > 0: its lower confidence bound at
        ~Phi(z), see the module docstring); None when empty."""
        if now is not None:
            self._expire(int(now // self._slot_len))
        n = self.count
        if n <= 0:
            return None
        want = q * n
        if z > 0.0:
            want -= z * math.sqrt(n * q * (1.0 - q))
        rank = min(n, max(1, math.ceil(want - 1e-9)))
        kth = n - rank + 1  # the answer is the kth largest value
        if kth <= self.top:
            return heapq.nlargest(kth, chain.from_iterable(s.top for s in self._slots))[-1]
        if rank <= self.zeros:
            return 0.0
        seen = self.zeros
        for k in sorted(self.total):
            c = self.total[k]
            if seen + c >= rank:
                # Geometric interpolation inside the bucket (G**(k-1), G**k]: the rank's position in its count.
                return float(GAMMA ** (k - 1 + (rank - seen) / c))
            seen += c
        return bucket_lower(max(self.total)) * GAMMA

    def quantile_cached(self, q: float, now: float, z: float = 0.0, max_age: float = 1.0) -> float | None:
        """`quantile`, recomputed at most every `max_age` seconds unless 1/64 of the data changed."""
        if (
            q != self._cache_q
            or now - self._cache_at >= max_age
            or self._dirty * 64 > self.count
            or now < self._cache_at
        ):
            v = self.quantile(q, now, z)
            self._cache_q, self._cache_at, self._dirty = q, now, 0
            self._cache_v = -1.0 if v is None else v
        return None if self._cache_v < 0 else self._cache_v

    def count_at_least(self, value: float, now: float) -> int | None:
        """How many values in the window are >= `value` (> 0), counted among the slots' exact top values; None
        when a slot may have held more such values than it kept."""
        self._expire(int(now // self._slot_len))
        if not self.top:
            return None
        n = 0
        for s in self._slots:
            top = s.top
            if len(top) >= self.top and top[0] >= value:
                return None
            n += sum(1 for x in top if x >= value)
        return n

    def bins(self) -> int:
        """Buckets held (totals plus slots): the memory measure."""
        return len(self.total) + sum(len(s.bins) for s in self._slots)

    def exact_values(self) -> int:
        """Values held exactly (the slots' top heaps): the other memory measure."""
        return sum(len(s.top) for s in self._slots)
