"""Configuration of the `statsd` receiver."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from edgetel.config.types import Duration, Size

# Prometheus client libraries' default buckets, in seconds.
DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]


@dataclass
class HistogramBuckets:
    """Explicit bucket bounds for the histograms whose name matches `match` (a glob such as `api.*`)."""

    match: str = "*"
    buckets: list[float] = field(default_factory=lambda: list(DEFAULT_BUCKETS))

    def validate(self) -> Iterator[tuple[str, str]]:
        if not self.buckets:
            yield "buckets", "must list at least one bucket bound"
        elif any(b <= a for a, b in zip(self.buckets, self.buckets[1:], strict=False)):
            yield "buckets", "bucket bounds must be strictly increasing"


@dataclass
class SummarySettings:
    percentiles: list[float] = field(default_factory=lambda: [50.0, 90.0, 95.0, 99.0])

    def validate(self) -> Iterator[tuple[str, str]]:
        for i, p in enumerate(self.percentiles):
            if not 0 <= p <= 100:
                yield f"percentiles.{i}", "a percentile is between 0 and 100"


@dataclass
class ExponentialSettings:
    max_size: int = 160

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.max_size < 2:
            yield "max_size", "must be at least 2"


@dataclass
class TimerMapping:
    """How one StatsD type (timing `ms`, histogram `h`, distribution `d`) is aggregated."""

    statsd_type: Literal["timing", "timer", "histogram", "distribution"] = "timing"
    observer_type: Literal["histogram", "exponential_histogram", "summary"] = "histogram"
    summary: SummarySettings = field(default_factory=SummarySettings)
    histogram: ExponentialSettings = field(default_factory=ExponentialSettings)


@dataclass
class StatsdConfig:
    endpoint: str = "127.0.0.1:8125"
    tcp_endpoint: str = ""
    unix_socket: str = ""
    socket_permissions: Any = "0660"
    aggregation_interval: Duration = field(default_factory=lambda: Duration(10.0))
    gauge_deltas: bool = True
    series_ttl: Duration = field(default_factory=lambda: Duration(300.0))
    max_series: int = 100_000
    rcvbuf: Size = field(default_factory=lambda: Size(16 * 1024 * 1024))
    max_packet_size: Size = field(default_factory=lambda: Size(65535))
    tcp_max_line_length: Size = field(default_factory=lambda: Size(65536))
    tcp_max_connections: int = 256
    tcp_idle_timeout: Duration = field(default_factory=lambda: Duration(300.0))
    histogram: list[HistogramBuckets] = field(default_factory=list)
    timer_histogram_mapping: list[TimerMapping] = field(default_factory=list)
    resource_attributes: dict[str, str] = field(default_factory=dict)

    def permissions(self) -> int:
        """`socket_permissions` as a mode: YAML reads `0660` as the octal int already; a string is octal."""
        value = self.socket_permissions
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return int(str(value).strip(), 8)

    def buckets_for(self, name: str) -> list[float]:
        for rule in self.histogram:
            if fnmatch.fnmatchcase(name, rule.match):
                return rule.buckets
        return DEFAULT_BUCKETS

    def observer_for(self, statsd_type: str) -> TimerMapping:
        """The mapping for `ms`, `h` or `d` (the default: explicit-bucket histograms)."""
        wanted = {"ms": ("timing", "timer"), "h": ("histogram",), "d": ("distribution",)}[statsd_type]
        for m in self.timer_histogram_mapping:
            if m.statsd_type in wanted:
                return m
        return TimerMapping()

    def validate(self) -> Iterator[tuple[str, str]]:
        from edgetel.pipeline.sockets import parse_endpoint

        if not (self.endpoint or self.tcp_endpoint or self.unix_socket):
            yield "endpoint", "set at least one of endpoint, tcp_endpoint, unix_socket"
        for key in ("endpoint", "tcp_endpoint"):
            value = getattr(self, key)
            if value:
                try:
                    parse_endpoint(value)
                except ValueError as e:
                    yield key, str(e)
        try:
            mode = self.permissions()
            if not 0 <= mode <= 0o777:
                yield "socket_permissions", "must be an octal mode such as 0660"
        except ValueError:
            yield "socket_permissions", f"{self.socket_permissions!r} is not an octal mode such as 0660"
        if self.aggregation_interval <= 0:
            yield "aggregation_interval", "must be positive"
        if self.series_ttl and self.series_ttl < self.aggregation_interval:
            yield "series_ttl", "must be at least aggregation_interval (or 0 to never expire series)"
        if self.max_series < 1:
            yield "max_series", "must be at least 1"
        if self.max_packet_size < 512 or self.max_packet_size > 1 << 20:
            yield "max_packet_size", "must be between 512B and 1MiB"
        if self.tcp_max_line_length < 64:
            yield "tcp_max_line_length", "must be at least 64B"
        if self.tcp_max_connections < 1:
            yield "tcp_max_connections", "must be at least 1"
        seen: set[str] = set()
        for i, m in enumerate(self.timer_histogram_mapping):
            canon = "timing" if m.statsd_type == "timer" else m.statsd_type
            if canon in seen:
                yield f"timer_histogram_mapping.{i}.statsd_type", f"{m.statsd_type} is mapped twice"
            seen.add(canon)
