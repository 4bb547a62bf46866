"""A sliding-window quantile sketch with bounded relative error and bounded memory.

Values (trace durations in seconds) are counted in logarithmic buckets: bucket k holds (G**(k-1), G**k] with
G = 1.01. A quantile is answered with the lower edge of the bucket that holds the value of that rank, so the
answer is never above the exact value and at most 1% below it: a trace whose duration is at or above the exact
percentile is always at or above the answer. Memory: at most `max_bins` buckets per time slot; when a group's
values span more than G**max_bins (a factor of ~160 for 512 bins) the lowest buckets are merged, which keeps
every high quantile exact (to 1%) and only blurs the low ones. The window is `slots` slots; the oldest slot is
subtracted from the running totals when it expires.
"""

from __future__ import annotations

import math
from collections import deque

GAMMA = 1.01
_LOG_GAMMA = math.log(GAMMA)


def bucket_key(value: float) -> int:
    return math.ceil(math.log(value) / _LOG_GAMMA)


def bucket_lower(key: int) -> float:
    return float(GAMMA ** (key - 1))


class _Slot:
    __slots__ = ("bins", "number", "zeros")

    def __init__(self, number: int) -> None:
        self.number = number
        self.bins: dict[int, int] = {}
        self.zeros = 0


class WindowedSketch:
    """Counts over the last `window` seconds, in `slots` slots; `quantile(q, now)`."""

    __slots__ = ("_cache_at", "_cache_q", "_cache_v", "_dirty", "_slot_len", "_slots", "count", "floor",
                 "max_bins", "nslots", "total", "zeros")  # fmt: skip

    def __init__(self, window: float = 300.0, slots: int = 5, max_bins: int = 512) -> None:
        self.nslots = max(1, slots)
        self._slot_len = max(window, 1e-3) / self.nslots
        self.max_bins = max(8, max_bins)
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
        self.add_key(bucket_key(value) if value > 0.0 else None, now)

    def add_key(self, k: int | None, now: float) -> None:
        """Count a value by its bucket key (None: a value <= 0)."""
        slots = self._slots
        slot = slots[-1] if slots and slots[-1].number == int(now // self._slot_len) else self._current(now)
        self.count += 1
        self._dirty += 1
        if k is None:
            slot.zeros += 1
            self.zeros += 1
            return
        if self.floor is not None and k < self.floor:
            k = self.floor
        slot.bins[k] = slot.bins.get(k, 0) + 1
        total = self.total
        if k in total:
            total[k] += 1
        else:
            total[k] = 1
            if len(total) > self.max_bins:
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

    def quantile(self, q: float, now: float | None = None) -> float | None:
        """The q-quantile (0 < q <= 1) of the values in the window; None when empty."""
        if now is not None:
            self._expire(int(now // self._slot_len))
        if self.count <= 0:
            return None
        rank = max(1, math.ceil(q * self.count - 1e-9))
        if rank <= self.zeros:
            return 0.0
        seen = self.zeros
        for k in sorted(self.total):
            seen += self.total[k]
            if seen >= rank:
                return bucket_lower(k)
        return bucket_lower(max(self.total))

    def quantile_cached(self, q: float, now: float, max_age: float = 1.0) -> float | None:
        """`quantile`, recomputed at most every `max_age` seconds unless 1/64 of the data changed."""
        if (
            q != self._cache_q
            or now - self._cache_at >= max_age
            or self._dirty * 64 > self.count
            or now < self._cache_at
        ):
            v = self.quantile(q, now)
            self._cache_q, self._cache_at, self._dirty = q, now, 0
            self._cache_v = -1.0 if v is None else v
        return None if self._cache_v < 0 else self._cache_v

    def bins(self) -> int:
        """Buckets held (totals plus slots): the memory measure."""
        return len(self.total) + sum(len(s.bins) for s in self._slots)
