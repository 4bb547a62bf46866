"""`exporters: {jaeger: ...}`: the Collector's former jaeger exporter keys (a gRPC client, queue, retry)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edgetel.helpers.grpc_settings import GRPCClientSettings


@dataclass
class Config(GRPCClientSettings):
    """endpoint (host:port, default port 14250), tls, headers, compression (none), timeout (5s),
    wait_for_ready, sending_queue, retry_on_failure."""

    # The Collector's jaeger exporter did not compress by default; Jaeger collectors accept gzip.
    compression: Literal["gzip", "none", ""] = "none"

    default_port = 14250
