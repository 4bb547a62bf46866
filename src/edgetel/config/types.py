"""Value types used in component configs: durations, sizes and secrets."""

from __future__ import annotations

import re

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "ki": 1024, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mi": 1024**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gi": 1024**3, "gib": 1024**3,
    "t": 1000**4, "tb": 1000**4, "ti": 1024**4, "tib": 1024**4,
}  # fmt: skip


class Duration(float):
    """Seconds, written in config as `10s`, `1m30s`, `250ms` (Go's duration syntax) or a bare number of seconds."""

    @classmethod
    def parse(cls, value: object) -> Duration:
        if isinstance(value, bool):
            raise ValueError("expected a duration such as 10s, 1m30s or 250ms")
        if isinstance(value, int | float):
            if value < 0:
                raise ValueError("a duration cannot be negative")
            return cls(float(value))
        text = str(value).strip()
        if text in ("0", ""):
            return cls(0.0)
        pos, total = 0, 0.0
        for m in _DURATION_RE.finditer(text):
            if m.start() != pos:
                break
            total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
            pos = m.end()
        if pos != len(text) or pos == 0:
            raise ValueError(f"invalid duration {text!r}: use forms such as 10s, 1m30s, 250ms")
        return cls(total)

    def __str__(self) -> str:
        secs = float(self)
        if secs == 0:
            return "0s"
        if secs < 1:
            ms = secs * 1000
            return f"{ms:g}ms"
        out, rest = "", secs
        for unit, size in (("h", 3600), ("m", 60)):
            if rest >= size:
                n = int(rest // size)
                out += f"{n}{unit}"
                rest -= n * size
        if rest or not out:
            out += f"{rest:g}s"
        return out

    def __repr__(self) -> str:
        return f"Duration({self})"


class Size(int):
    """Bytes, written as `64MiB`, `1GiB`, `512KB` or a bare number of bytes."""

    @classmethod
    def parse(cls, value: object) -> Size:
        if isinstance(value, bool):
            raise ValueError("expected a size such as 64MiB or 1GiB")
        if isinstance(value, int):
            if value < 0:
                raise ValueError("a size cannot be negative")
            return cls(value)
        m = _SIZE_RE.match(str(value))
        if not m:
            raise ValueError(f"invalid size {value!r}: use forms such as 512KiB, 64MiB, 1GiB")
        unit = (m.group(2) or "").lower()
        if unit not in _SIZE_UNITS:
            raise ValueError(f"invalid size unit in {value!r}")
        return cls(int(float(m.group(1)) * _SIZE_UNITS[unit]))

    def __str__(self) -> str:
        n = int(self)
        for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
            if n >= size and n % size == 0:
                return f"{n // size}{unit}"
        return str(n)


class Secret:
    """A value that never prints: not in logs, `print-config`, the status page or metric labels."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "[REDACTED]" if self._value else ""

    def __repr__(self) -> str:
        return "Secret([REDACTED])"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)
