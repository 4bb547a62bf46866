"""Component ids (`type` or `type/name`) and pipeline ids (`traces`, `metrics/name`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_NAME_RE = re.compile(r"^[^\s/]+$")


class Signal(StrEnum):
    TRACES = "traces"
    METRICS = "metrics"
    LOGS = "logs"


class Kind(StrEnum):
    RECEIVER = "receiver"
    PROCESSOR = "processor"
    EXPORTER = "exporter"
    CONNECTOR = "connector"


@dataclass(frozen=True, order=True)
class ComponentID:
    type: str
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> ComponentID:
        """Parse `type` or `type/name`; raise ValueError with a readable reason."""
        kind, sep, name = text.strip().partition("/")
        if not _TYPE_RE.match(kind):
            raise ValueError(f"invalid component type {kind!r}: use lower-case letters, digits and _")
        if sep and not _NAME_RE.match(name):
            raise ValueError(f"invalid component name {name!r} in {text!r}")
        return cls(kind, name)

    def __str__(self) -> str:
        return f"{self.type}/{self.name}" if self.name else self.type


@dataclass(frozen=True, order=True)
class PipelineID:
    signal: Signal
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> PipelineID:
        sig, sep, name = text.strip().partition("/")
        try:
            signal = Signal(sig)
        except ValueError:
            raise ValueError(
                f"unknown pipeline type {sig!r}: use traces, metrics or logs (optionally traces/<name>)"
            ) from None
        if sep and not _NAME_RE.match(name):
            raise ValueError(f"invalid pipeline name {name!r}")
        return cls(signal, name)

    def __str__(self) -> str:
        return f"{self.signal}/{self.name}" if self.name else str(self.signal)
