"""Settings of the otlp receiver: the OpenTelemetry Collector's keys and defaults where it has them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from edgetel.config.types import Duration, Secret, Size
from edgetel.pipeline.sockets import parse_endpoint

UNIX_PREFIX = "unix://"


@dataclass
class TLSSettings:
    """Server TLS; with `client_ca_file` a client certificate signed by that CA is required (mTLS)."""

    cert_file: str = ""
    key_file: str = ""
    client_ca_file: str = ""
    min_version: Literal["1.2", "1.3"] = "1.2"

    def validate(self) -> Iterator[tuple[str, str]]:
        if bool(self.cert_file) != bool(self.key_file):
            yield "", "cert_file and key_file must be given together"
        if self.client_ca_file and not self.cert_file:
            yield "client_ca_file", "needs cert_file and key_file"
        for key in ("cert_file", "key_file", "client_ca_file"):
            path = getattr(self, key)
            if path and not os.path.isfile(path):
                yield key, f"file {path!r} does not exist"

    @property
    def enabled(self) -> bool:
        return bool(self.cert_file)


@dataclass
class AuthSettings:
    """`bearer_token`: requests must carry `Authorization: Bearer <token>` (write it as ${env:VAR})."""

    bearer_token: Secret | None = None

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.bearer_token is not None and not self.bearer_token.reveal().strip():
            yield "bearer_token", "is empty: an empty token would turn authentication off (remove `auth` for that)"

    def token(self) -> bytes | None:
        """The token to require, or None when authentication is off."""
        return self.bearer_token.reveal().encode("utf-8") if self.bearer_token is not None else None


def _check_endpoint(endpoint: str) -> Iterator[tuple[str, str]]:
    if endpoint.startswith(UNIX_PREFIX):
        if not endpoint[len(UNIX_PREFIX) :].startswith("/"):
            yield "endpoint", "a unix endpoint needs an absolute path: unix:///run/edgetel/otlp.sock"
        return
    try:
        parse_endpoint(endpoint)
    except ValueError as e:
        yield "endpoint", str(e)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


@dataclass
class KeepaliveServerParameters:
    """The Collector's `keepalive.server_parameters`; 0 means infinite for the connection limits."""

    max_connection_idle: Duration = field(default_factory=lambda: Duration(0.0))
    max_connection_age: Duration = field(default_factory=lambda: Duration(0.0))
    max_connection_age_grace: Duration = field(default_factory=lambda: Duration(0.0))
    time: Duration = field(default_factory=lambda: Duration(7200.0))
    timeout: Duration = field(default_factory=lambda: Duration(20.0))


@dataclass
class KeepaliveEnforcementPolicy:
    """The Collector's `keepalive.enforcement_policy`: clients pinging more often are disconnected."""

    min_time: Duration = field(default_factory=lambda: Duration(300.0))
    permit_without_stream: bool = False


@dataclass
class KeepaliveSettings:
    server_parameters: KeepaliveServerParameters = field(default_factory=KeepaliveServerParameters)
    enforcement_policy: KeepaliveEnforcementPolicy = field(default_factory=KeepaliveEnforcementPolicy)


@dataclass
class GRPCSettings:
    enabled: bool = True
    endpoint: str = "127.0.0.1:4317"
    max_recv_msg_size_mib: int = 4
    max_concurrent_streams: int = 0  # 0: grpc's default (no limit)
    max_connections: int = 256  # edgetel's, as for http: open connections
    keepalive: KeepaliveSettings = field(default_factory=KeepaliveSettings)
    tls: TLSSettings = field(default_factory=TLSSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)

    def validate(self) -> Iterator[tuple[str, str]]:
        yield from _check_endpoint(self.endpoint)
        if self.max_recv_msg_size_mib < 1:
            yield "max_recv_msg_size_mib", "must be at least 1"
        if self.max_concurrent_streams < 0:
            yield "max_concurrent_streams", "cannot be negative"
        if self.max_connections < 1:
            yield "max_connections", "must be at least 1"
        sp = self.keepalive.server_parameters
        if sp.time < 1.0:
            yield "keepalive.server_parameters.time", "must be at least 1s"
        if sp.timeout < 0.001:
            yield "keepalive.server_parameters.timeout", "must be more than 0"

    def channel_options(self) -> list[tuple[str, int]]:
        """grpc core's server arguments for these settings."""
        sp, ep = self.keepalive.server_parameters, self.keepalive.enforcement_policy
        options = [
            ("grpc.max_receive_message_length", self.max_recv_msg_size_mib * 1024 * 1024),
            ("grpc.keepalive_time_ms", _ms(sp.time)),
            ("grpc.keepalive_timeout_ms", _ms(sp.timeout)),
            ("grpc.http2.min_ping_interval_without_data_ms", _ms(ep.min_time)),
            ("grpc.keepalive_permit_without_calls", int(ep.permit_without_stream)),
            ("grpc.max_allowed_incoming_connections", self.max_connections),
        ]
        for key, value in (
            ("grpc.max_concurrent_streams", self.max_concurrent_streams),
            ("grpc.max_connection_idle_ms", _ms(sp.max_connection_idle)),
            ("grpc.max_connection_age_ms", _ms(sp.max_connection_age)),
            ("grpc.max_connection_age_grace_ms", _ms(sp.max_connection_age_grace)),
        ):
            if value:
                options.append((key, value))
        return options


@dataclass
class HTTPSettings:
    enabled: bool = True
    endpoint: str = "127.0.0.1:4318"
    # The cap on a request body after decompression (413 above it).
    max_request_body_size: Size = field(default_factory=lambda: Size(20 * 1024 * 1024))
    traces_url_path: str = "/v1/traces"
    metrics_url_path: str = "/v1/metrics"
    tls: TLSSettings = field(default_factory=TLSSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    # A connection must send a complete request header within idle_timeout of opening or of its last response.
    idle_timeout: Duration = field(default_factory=lambda: Duration(60.0))
    # The whole body must arrive within read_timeout (the Collector's default is no limit; edgetel bounds it).
    read_timeout: Duration = field(default_factory=lambda: Duration(30.0))
    max_connections: int = 256
    max_header_size: Size = field(default_factory=lambda: Size(8190))

    def validate(self) -> Iterator[tuple[str, str]]:
        yield from _check_endpoint(self.endpoint)
        for key in ("traces_url_path", "metrics_url_path"):
            if not getattr(self, key).startswith("/"):
                yield key, "must start with /"
        if self.traces_url_path == self.metrics_url_path:
            yield "metrics_url_path", "must differ from traces_url_path"
        if self.max_request_body_size < 1024:
            yield "max_request_body_size", "must be at least 1KiB"
        if self.max_connections < 1:
            yield "max_connections", "must be at least 1"
        if self.max_header_size < 1024:
            yield "max_header_size", "must be at least 1KiB"
        if self.idle_timeout <= 0:
            yield "idle_timeout", "must be greater than 0"
        if self.read_timeout <= 0:
            yield "read_timeout", "must be greater than 0"


@dataclass
class Protocols:
    # A protocol is on when its key is present (even empty, as in the Collector); `enabled: false` turns it off.
    grpc: GRPCSettings = field(default_factory=lambda: GRPCSettings(enabled=False))
    http: HTTPSettings = field(default_factory=lambda: HTTPSettings(enabled=False))


@dataclass
class OTLPConfig:
    # A bare `otlp:` turns both protocols on with their defaults (the Collector refuses it instead).
    protocols: Protocols = field(default_factory=lambda: Protocols(GRPCSettings(), HTTPSettings()))

    def validate(self) -> Iterator[tuple[str, str]]:
        if not (self.protocols.grpc.enabled or self.protocols.http.enabled):
            yield "protocols", "must enable at least one protocol: grpc or http"
        g, h = self.protocols.grpc, self.protocols.http
        if g.enabled and h.enabled and g.endpoint == h.endpoint and not g.endpoint.endswith(":0"):
            yield "protocols.http.endpoint", "must differ from protocols.grpc.endpoint"
