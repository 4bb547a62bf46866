"""Shared shutdown state: the deadline by which everything must have drained."""

from __future__ import annotations

import time


class Lifecycle:
    def __init__(self) -> None:
        self.deadline: float | None = None  # time.monotonic() value; None while running

    def remaining(self, default: float = 15.0) -> float:
        if self.deadline is None:
            return default
        return max(0.0, self.deadline - time.monotonic())
