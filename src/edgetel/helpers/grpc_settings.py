"""Settings shared by the gRPC exporters (`otlp`, `jaeger`), with the Collector's keys. Cheap to import."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from edgetel.config.types import Duration, Secret
from edgetel.helpers.settings import BufferSettings, QueueSettings, RetrySettings, check_queue_and_buffer
from edgetel.helpers.tls import TLSClientSettings

_HOST_PORT_RE = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[^:\[\]/\s]+)(?::(\d+))?$")
_METADATA_KEY_RE = re.compile(r"^[0-9a-z_.\-]+$")


def parse_grpc_endpoint(endpoint: str, default_port: int) -> tuple[str, bool]:
    """The gRPC target for `endpoint` and whether its scheme asked for TLS (`https://`).

    Accepts `host:port`, `host` (default port), `[v6]:port`, `https://host:port`, `http://host:port` and
    `unix:///path`. Raises ValueError with a readable reason.
    """
    text = endpoint.strip()
    if not text:
        raise ValueError("must be set (host:port or unix:///path)")
    if text.startswith("unix:"):
        if len(text) <= len("unix:") or text.rstrip("/") == "unix:":
            raise ValueError(f"invalid unix socket endpoint {endpoint!r}: use unix:///path/to.sock")
        return text, False
    https = text.startswith("https://")
    for scheme in ("https://", "http://", "dns:///"):
        if text.startswith(scheme):
            text = text[len(scheme) :]
            break
    text = text.rstrip("/")
    m = _HOST_PORT_RE.match(text)
    if not m:
        raise ValueError(f"invalid endpoint {endpoint!r}: use host:port, [ipv6]:port or unix:///path")
    host, port = m.group(1), m.group(2)
    if port is None:
        port = str(default_port)
    elif not 0 < int(port) < 65536:
        raise ValueError(f"invalid port in {endpoint!r}")
    return f"{host}:{port}", https


@dataclass
class GRPCClientSettings:
    endpoint: str = ""
    tls: TLSClientSettings = field(default_factory=TLSClientSettings)
    headers: dict[str, Secret] = field(default_factory=dict)
    compression: Literal["gzip", "none", ""] = "gzip"
    timeout: Duration = field(default_factory=lambda: Duration(5.0))
    wait_for_ready: bool = False
    sending_queue: QueueSettings = field(default_factory=QueueSettings)
    retry_on_failure: RetrySettings = field(default_factory=RetrySettings)
    buffer: BufferSettings = field(default_factory=BufferSettings)

    # Overridden by each exporter: the port used when the endpoint has none.
    default_port = 4317

    def validate(self) -> Iterator[tuple[str, str]]:
        try:
            _, https = parse_grpc_endpoint(self.endpoint, self.default_port)
        except ValueError as e:
            yield "endpoint", str(e)
        else:
            if https and self.tls.insecure:
                yield "tls.insecure", "the endpoint asks for https:// but tls.insecure is true"
            if self.endpoint.strip().startswith("http://") and not self.tls.insecure:
                yield "endpoint", "http:// means plain text: set tls.insecure: true (or use https://)"
        if self.tls.insecure_skip_verify:
            yield "tls.insecure_skip_verify", "not supported by the gRPC client: set tls.ca_file to the server's CA"
        if self.timeout <= 0:
            yield "timeout", "must be greater than 0"
        yield from check_queue_and_buffer(self.sending_queue, self.buffer)
        for key in self.headers:
            if not _METADATA_KEY_RE.match(key.lower()):
                yield f"headers.{key}", "invalid gRPC metadata key: use letters, digits, '-', '_' and '.'"
