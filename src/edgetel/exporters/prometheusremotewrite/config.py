"""`exporters: {prometheusremotewrite: ...}`: the Collector's keys, plus remote-write batching and staleness."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from edgetel.config.types import Duration, Secret, Size
from edgetel.helpers.settings import BufferSettings, QueueSettings, RetrySettings, check_queue_and_buffer
from edgetel.helpers.tls import TLSClientSettings

_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_HEADERS = frozenset(
    {"content-encoding", "content-type", "user-agent", "x-prometheus-remote-write-version", "content-length"}
)


@dataclass
class BasicAuth:
    username: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    password_file: str = ""


@dataclass
class AuthSettings:
    """One of bearer_token_file, bearer_token or basic_auth."""

    bearer_token: Secret = field(default_factory=lambda: Secret(""))
    bearer_token_file: str = ""
    basic_auth: BasicAuth | None = None

    def validate(self) -> Iterator[tuple[str, str]]:
        chosen = [k for k in ("bearer_token", "bearer_token_file") if getattr(self, k)]
        if self.basic_auth is not None:
            chosen.append("basic_auth")
            if self.basic_auth.password and self.basic_auth.password_file:
                yield "basic_auth.password_file", "set password or password_file, not both"
            if not self.basic_auth.username:
                yield "basic_auth.username", "must be set"
        if len(chosen) > 1:
            yield chosen[1], f"set only one of bearer_token, bearer_token_file and basic_auth (also {chosen[0]})"


@dataclass
class ResourceToTelemetry:
    enabled: bool = False


def _queue() -> QueueSettings:
    return QueueSettings(num_consumers=1)  # one consumer: samples of a series must stay in timestamp order


def _retry() -> RetrySettings:
    # Prometheus' own sender backs off from 30ms to 5s; the Collector's PRW exporter starts at 50ms.
    return RetrySettings(initial_interval=Duration(0.05), max_interval=Duration(5.0))


@dataclass
class Config:
    endpoint: str = ""
    headers: dict[str, Secret] = field(default_factory=dict)
    external_labels: dict[str, str] = field(default_factory=dict)
    auth: AuthSettings = field(default_factory=AuthSettings)
    tls: TLSClientSettings = field(default_factory=TLSClientSettings)
    timeout: Duration = field(default_factory=lambda: Duration(5.0))
    namespace: str = ""
    resource_to_telemetry_conversion: ResourceToTelemetry = field(default_factory=ResourceToTelemetry)
    add_metric_suffixes: bool = True
    # target_info: one gauge per resource with its non-identifying attributes (the Collector's default)
    target_info: bool = True
    max_samples_per_send: int = 2000
    max_batch_bytes: Size = field(default_factory=lambda: Size(3_000_000))
    send_metadata: bool = True
    metadata_interval: Duration = field(default_factory=lambda: Duration(60.0))
    stale_after: Duration = field(default_factory=lambda: Duration(300.0))  # 0: never send stale markers
    max_series: int = 50_000  # series whose labels, order and delta state are kept
    sending_queue: QueueSettings = field(default_factory=_queue)
    retry_on_failure: RetrySettings = field(default_factory=_retry)
    buffer: BufferSettings = field(default_factory=BufferSettings)

    def validate(self) -> Iterator[tuple[str, str]]:
        parts = urlsplit(self.endpoint.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            yield "endpoint", "must be an http:// or https:// URL such as http://127.0.0.1:9090/api/v1/write"
        for name in self.external_labels:
            if not _LABEL_RE.match(name) or name.startswith("__"):
                yield f"external_labels.{name}", "not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, no __ prefix)"
        for name in self.headers:
            if name.lower() in RESERVED_HEADERS:
                yield f"headers.{name}", "is set by the exporter (remote-write requires its value)"
        if self.namespace and not _LABEL_RE.match(self.namespace):
            yield "namespace", "must match [a-zA-Z_][a-zA-Z0-9_]*"
        if self.timeout <= 0:
            yield "timeout", "must be greater than 0"
        if self.max_samples_per_send < 1:
            yield "max_samples_per_send", "must be at least 1"
        if self.max_batch_bytes < 1024:
            yield "max_batch_bytes", "must be at least 1KiB"
        if self.metadata_interval <= 0:
            yield "metadata_interval", "must be greater than 0"
        if self.max_series < 1:
            yield "max_series", "must be at least 1"
        yield from check_queue_and_buffer(self.sending_queue, self.buffer)
        if self.sending_queue.num_consumers != 1:
            yield "sending_queue.num_consumers", "must be 1: parallel sends would break per-series sample order"
