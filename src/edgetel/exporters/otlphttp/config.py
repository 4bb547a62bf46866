"""`exporters: {otlphttp: ...}`: the Collector's otlphttp exporter keys."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from edgetel.config.types import Duration, Secret
from edgetel.helpers.settings import BufferSettings, QueueSettings, RetrySettings, check_queue_and_buffer
from edgetel.helpers.tls import TLSClientSettings

_URL_RE = re.compile(r"^https?://(\[[0-9a-fA-F:.]+\]|[^/:\s\[\]]+)(:\d{1,5})?(/\S*)?$")


@dataclass
class Config:
    endpoint: str = ""  # base URL: /v1/traces and /v1/metrics are appended
    traces_endpoint: str = ""  # full URL, used as is
    metrics_endpoint: str = ""
    tls: TLSClientSettings = field(default_factory=TLSClientSettings)
    headers: dict[str, Secret] = field(default_factory=dict)
    compression: Literal["gzip", "none", ""] = "gzip"
    encoding: Literal["proto", "json"] = "proto"
    timeout: Duration = field(default_factory=lambda: Duration(30.0))
    sending_queue: QueueSettings = field(default_factory=QueueSettings)
    retry_on_failure: RetrySettings = field(default_factory=RetrySettings)
    buffer: BufferSettings = field(default_factory=BufferSettings)

    def url(self, path: str) -> str:
        """The URL for signal path `traces` or `metrics`."""
        override = self.traces_endpoint if path == "traces" else self.metrics_endpoint
        return override or f"{self.endpoint.rstrip('/')}/v1/{path}"

    def validate(self) -> Iterator[tuple[str, str]]:
        if not self.endpoint and not (self.traces_endpoint and self.metrics_endpoint):
            yield "endpoint", "must be set (a base URL such as http://collector:4318)"
        for key in ("endpoint", "traces_endpoint", "metrics_endpoint"):
            value = getattr(self, key)
            if value and not _URL_RE.match(value):
                yield key, f"invalid URL {value!r}: use http://host:port or https://host:port[/path]"
        if self.timeout <= 0:
            yield "timeout", "must be greater than 0"
        yield from check_queue_and_buffer(self.sending_queue, self.buffer)
