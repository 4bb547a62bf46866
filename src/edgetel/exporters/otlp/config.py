"""`exporters: {otlp: ...}`: the Collector's otlp exporter keys (gRPC client, queue, retry)."""

from __future__ import annotations

from dataclasses import dataclass

from edgetel.helpers.grpc_settings import GRPCClientSettings


@dataclass
class Config(GRPCClientSettings):
    """endpoint (host:port, https://host:port or unix:///path), tls, headers, compression (gzip), timeout (5s),
    wait_for_ready, sending_queue, retry_on_failure."""

    default_port = 4317
