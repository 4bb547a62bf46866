from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class DebugConfig:
    """`basic`: one line per batch with counts; `detailed`: also the batch as OTLP JSON."""

    verbosity: Literal["basic", "normal", "detailed"] = "basic"
