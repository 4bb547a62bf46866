"""Structured logging: JSON lines when stdout is not a terminal (journald-friendly), readable lines on a terminal.

Repeated errors are logged once: the same (logger, level, message template) within `window` seconds is
suppressed and counted; the next time it is logged after the window it carries `repeated=N`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any, Literal

import orjson

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out).decode()


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(
            f"{k}={v}"
            for k, v in record.__dict__.items()
            if k not in _STANDARD and not k.startswith("_")
        )
        line = f"{ts} {record.levelname:<7} {record.name}: {record.getMessage()}" + (f"  {extras}" if extras else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class DedupFilter(logging.Filter):
    """Let the first of a run of identical warnings/errors through; count the rest for `window` seconds."""

    def __init__(self, window: float = 60.0, max_keys: int = 4096) -> None:
        super().__init__()
        self.window = window
        self.max_keys = max_keys
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        with self._lock:
            first, suppressed = self._seen.get(key, (0.0, -1))
            if suppressed >= 0 and now - first < self.window:
                self._seen[key] = (first, suppressed + 1)
                return False
            if len(self._seen) >= self.max_keys:
                self._seen.clear()
            self._seen[key] = (now, 0)
        if suppressed > 0:
            record.repeated = suppressed
        return True


def setup(level: str = "info", fmt: Literal["auto", "json", "console"] = "auto") -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler.setFormatter(JSONFormatter() if use_json else ConsoleFormatter())
    handler.addFilter(DedupFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("asyncio", "grpc", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
