"""The last warnings and errors, kept for the status page (a bounded ring, never the whole log)."""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any


class RecentProblems(logging.Handler):
    def __init__(self, size: int = 50) -> None:
        super().__init__(logging.WARNING)
        self.items: deque[dict[str, Any]] = deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        fields = {k: str(v) for k, v in record.__dict__.items()
                  if k in ("exporter", "receiver", "error", "detail", "problem", "component", "repeated")}
        self.items.append({"time": time.time(), "level": record.levelname.lower(), "logger": record.name,
                           "msg": record.getMessage(), **fields})  # fmt: skip


RECENT = RecentProblems()


def install() -> None:
    root = logging.getLogger()
    if RECENT not in root.handlers:
        root.addHandler(RECENT)
