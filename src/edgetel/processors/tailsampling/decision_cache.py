"""Bounded caches of decided trace ids, so that late spans follow the decision already made."""

from __future__ import annotations

from collections import deque


class DecisionCache:
    """trace id -> value, at most `size` entries; the oldest decision is forgotten first.

    A deque keeps the insertion order (deleting from the front of a dict and iterating it again is O(n) in
    CPython until the dict is resized).
    """

    __slots__ = ("_data", "_order", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: dict[bytes, int] = {}
        self._order: deque[bytes] = deque()

    def put(self, trace_id: bytes, value: int = 0) -> None:
        if self.size <= 0:
            return
        data = self._data
        if trace_id not in data:
            if len(data) >= self.size:
                data.pop(self._order.popleft(), None)
            self._order.append(trace_id)
        data[trace_id] = value

    def get(self, trace_id: bytes) -> int | None:
        return self._data.get(trace_id)

    def __contains__(self, trace_id: object) -> bool:
        return trace_id in self._data

    def __len__(self) -> int:
        return len(self._data)
