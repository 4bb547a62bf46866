"""edgetel's own metrics, exposed in Prometheus text format on the admin endpoint's `/metrics`.

Small on purpose: counters and gauges with fixed label names, children cached per label values so the hot
path is one attribute increment. The registry outlives reloads: counters keep counting across SIGHUP.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class Child:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: float = 0

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def set(self, value: float) -> None:
        self.value = value

    def dec(self, amount: float = 1) -> None:
        self.value -= amount


class Family:
    def __init__(self, name: str, help_text: str, kind: str, labelnames: Labels) -> None:
        self.name = name
        self.help = help_text
        self.kind = kind
        self.labelnames = labelnames
        self.children: dict[Labels, Child] = {}
        self.callbacks: dict[Labels, Callable[[], float]] = {}

    def labels(self, *values: str) -> Child:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = Child()
        return child

    def set_function(self, values: Labels, fn: Callable[[], float] | None) -> None:
        """A gauge child computed at scrape time (or removed, with `fn=None`)."""
        if fn is None:
            self.callbacks.pop(values, None)
        else:
            self.callbacks[values] = fn

    def samples(self) -> Iterable[tuple[Labels, float]]:
        yield from ((k, c.value) for k, c in self.children.items())
        for k, fn in list(self.callbacks.items()):
            try:
                yield k, float(fn())
            except Exception:  # a broken gauge callback must not break the scrape
                continue


class Registry:
    def __init__(self) -> None:
        self._families: dict[str, Family] = {}

    def _family(self, name: str, help_text: str, kind: str, labelnames: Iterable[str]) -> Family:
        labels = tuple(labelnames)
        fam = self._families.get(name)
        if fam is None:
            fam = self._families[name] = Family(name, help_text, kind, labels)
        elif fam.labelnames != labels or fam.kind != kind:
            raise ValueError(f"metric {name} already registered with labels {fam.labelnames} ({fam.kind})")
        return fam

    def counter(self, name: str, help_text: str, labelnames: Iterable[str] = ()) -> Family:
        return self._family(name, help_text, "counter", labelnames)

    def gauge(self, name: str, help_text: str, labelnames: Iterable[str] = ()) -> Family:
        return self._family(name, help_text, "gauge", labelnames)

    def get(self, name: str) -> Family | None:
        return self._families.get(name)

    def value(self, name: str, *labels: str) -> float:
        """The current value of one child (0 when absent); for tests and the status page."""
        fam = self._families.get(name)
        if fam is None:
            return 0.0
        for key, val in fam.samples():
            if key == labels:
                return val
        return 0.0

    def render(self) -> str:
        lines: list[str] = []
        for fam in sorted(self._families.values(), key=lambda f: f.name):
            lines.append(f"# HELP {fam.name} {fam.help}")
            lines.append(f"# TYPE {fam.name} {fam.kind}")
            for key, val in sorted(fam.samples()):
                if key:
                    lbl = ",".join(f'{n}="{_escape(v)}"' for n, v in zip(fam.labelnames, key, strict=True))
                    lines.append(f"{fam.name}{{{lbl}}} {_fmt(val)}")
                else:
                    lines.append(f"{fam.name} {_fmt(val)}")
        return "\n".join(lines) + "\n"
