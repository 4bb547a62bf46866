"""One grpc.aio channel for an exporter: unary calls with already-serialized request bytes (no re-encoding),
failures turned into `ExportError` by the OTLP retry rules (helpers/retry_codes.py)."""

from __future__ import annotations

from typing import Any

import grpc

from edgetel import __version__
from edgetel.helpers.exporter import ExportError
from edgetel.helpers.grpc_settings import GRPCClientSettings, parse_grpc_endpoint
from edgetel.helpers.retry_codes import STATUS_DETAILS_KEY, grpc_retryable, retry_info_delay
from edgetel.helpers.tls import grpc_credentials


def _identity(b: bytes) -> bytes:
    return b


class GrpcExportError(ExportError):
    """An ExportError carrying the gRPC status code name (for the per-code error counter)."""

    def __init__(self, message: str, *, code: str, retryable: bool, retry_after: float | None) -> None:
        super().__init__(message, retryable=retryable, retry_after=retry_after)
        self.code = code


def to_export_error(err: grpc.aio.AioRpcError) -> GrpcExportError:
    code = err.code()
    details_bin = None
    for key, value in err.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            details_bin = value
    delay = retry_info_delay(details_bin)
    number = code.value[0]
    details = err.details()
    return GrpcExportError(
        f"{code.name}: {details}" if details else code.name,
        code=code.name,
        retryable=grpc_retryable(number, delay is not None),
        retry_after=delay,
    )


class GrpcClient:
    """Owns the channel; `call(method, payload)` returns the response bytes or raises GrpcExportError."""

    def __init__(self, cfg: GRPCClientSettings, default_port: int) -> None:
        self.cfg = cfg
        self.target, https = parse_grpc_endpoint(cfg.endpoint, default_port)
        self._tls = https or not cfg.tls.insecure
        self._metadata = tuple((k.lower(), v.reveal()) for k, v in cfg.headers.items()) or None
        self._channel: grpc.aio.Channel | None = None
        self._methods: dict[str, Any] = {}

    async def start(self) -> None:
        options: list[tuple[str, Any]] = [
            ("grpc.primary_user_agent", f"edgetel/{__version__}"),
            ("grpc.max_send_message_length", -1),
            ("grpc.max_receive_message_length", 16 * 1024 * 1024),
            # Reconnect soon after a backend comes back; the exporter's own backoff paces the retries.
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.min_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 5000),
        ]
        if self.cfg.tls.server_name_override:
            options.append(("grpc.ssl_target_name_override", self.cfg.tls.server_name_override))
        compression = grpc.Compression.Gzip if self.cfg.compression == "gzip" else grpc.Compression.NoCompression
        if self._tls:
            creds = grpc_credentials(self.cfg.tls) or grpc.ssl_channel_credentials()
            self._channel = grpc.aio.secure_channel(self.target, creds, options, compression)
        else:
            self._channel = grpc.aio.insecure_channel(self.target, options, compression)

    def _method(self, path: str) -> Any:
        m = self._methods.get(path)
        if m is None:
            assert self._channel is not None, "GrpcClient.start() was not called"
            m = self._methods[path] = self._channel.unary_unary(
                path, request_serializer=_identity, response_deserializer=_identity
            )
        return m

    async def call(self, path: str, payload: bytes) -> bytes:
        try:
            response = await self._method(path)(
                payload,
                timeout=float(self.cfg.timeout),
                metadata=self._metadata,
                wait_for_ready=self.cfg.wait_for_ready or None,
            )
        except grpc.aio.AioRpcError as e:
            raise to_export_error(e) from None
        return bytes(response)

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            self._methods.clear()
            await channel.close(grace=None)
