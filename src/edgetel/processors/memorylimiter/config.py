"""Settings of the memory_limiter processor (the OpenTelemetry Collector's keys)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from edgetel.config.types import Duration


@dataclass
class MemoryLimiterConfig:
    # How often the process RSS is measured.
    check_interval: Duration = field(default_factory=lambda: Duration(1.0))
    # The hard limit in MiB; data is refused from `limit_mib - spike_limit_mib` (the soft limit) on.
    limit_mib: int = 0
    # The headroom below the hard limit; 0 means 20% of the limit.
    spike_limit_mib: int = 0
    # The same as a percentage of the memory available (the cgroup limit, else the host's total memory).
    limit_percentage: int = 0
    spike_limit_percentage: int = 0

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.check_interval <= 0:
            yield "check_interval", "must be greater than 0"
        if self.limit_mib < 0:
            yield "limit_mib", "cannot be negative"
        if self.spike_limit_mib < 0:
            yield "spike_limit_mib", "cannot be negative"
        if self.limit_mib and self.limit_percentage:
            yield "limit_percentage", "set either limit_mib or limit_percentage, not both"
        if not self.limit_mib and not self.limit_percentage:
            yield "limit_mib", "set limit_mib (or limit_percentage): the memory limit is required"
        if self.limit_mib and self.spike_limit_mib >= self.limit_mib:
            yield "spike_limit_mib", "must be smaller than limit_mib"
        for key in ("limit_percentage", "spike_limit_percentage"):
            if not 0 <= getattr(self, key) <= 100:
                yield key, "must be between 0 and 100"
        if self.limit_percentage and self.spike_limit_percentage >= self.limit_percentage:
            yield "spike_limit_percentage", "must be smaller than limit_percentage"
