"""OTLP/gRPC: TraceService/Export and MetricsService/Export on grpc.aio.

Requests stay bytes until the handler parses them once into the pdata facade (upb), so garbage is answered
INVALID_ARGUMENT (and counted) instead of grpc's generic deserialization error. LogsService is not registered:
grpc answers UNIMPLEMENTED, as the Collector does without a logs pipeline.

Reloads: grpc cannot adopt a pooled socket, but it binds TCP ports with SO_REUSEPORT, so the new receiver binds
the same port while the old one still listens (the kernel spreads new connections over both until the old one
stops). A Unix socket is bound under a private name and renamed over the configured path (see `_address`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from edgetel.component.ids import Signal
from edgetel.component.lifecycle import Lifecycle
from edgetel.component.protocols import Consumer
from edgetel.pdata import Metrics, Traces
from edgetel.pipeline.sockets import parse_endpoint
from edgetel.receivers.otlp import common
from edgetel.receivers.otlp.common import Telemetry
from edgetel.receivers.otlp.config import UNIX_PREFIX, GRPCSettings

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"
_SHUTDOWN_GRACE = 1.0  # our handlers finish within the batch timeout; a long grace stalls reloads
_UNIX_MODE = 0o660

Parse = Callable[[bytes], Traces | Metrics]


class GRPCServer:
    def __init__(
        self,
        cfg: GRPCSettings,
        consumers: Mapping[Signal, Consumer],
        tel: Telemetry,
        log: logging.Logger,
        lifecycle: Lifecycle,
    ) -> None:
        self._cfg = cfg
        self._consumers = consumers
        self._tel = tel
        self._log = log
        self._lifecycle = lifecycle
        self._token = cfg.auth.token()
        self._server: Any = None
        self._unix: tuple[str, int] | None = None  # the published socket path and its inode
        self._live_key: tuple[str, int] | None = None
        self.port = 0  # the bound TCP port (useful with port 0)

    async def start(self) -> None:
        import grpc

        cfg = self._cfg
        options: list[tuple[str, Any]] = [*cfg.channel_options(), ("grpc.so_reuseport", 1)]
        server = grpc.aio.server(options=options)
        handlers = []
        if Signal.TRACES in self._consumers:
            handlers.append(self._service(grpc, TRACE_SERVICE, self._handler(Signal.TRACES, Traces.parse)))
        if Signal.METRICS in self._consumers:
            handlers.append(self._service(grpc, METRICS_SERVICE, self._handler(Signal.METRICS, Metrics.parse)))
        server.add_generic_rpc_handlers(handlers)
        address, unix_path = self._address()
        if unix_path is None:
            _check_not_taken(cfg.endpoint)
        if cfg.tls.enabled:
            creds = grpc.ssl_server_credentials(
                [(_read(cfg.tls.key_file), _read(cfg.tls.cert_file))],
                root_certificates=_read(cfg.tls.client_ca_file) if cfg.tls.client_ca_file else None,
                require_client_auth=bool(cfg.tls.client_ca_file),
            )
            port = server.add_secure_port(address, creds)
        else:
            port = server.add_insecure_port(address)
        if unix_path is None and port == 0:
            raise OSError(f"otlp receiver: cannot listen for gRPC on {cfg.endpoint}")
        self.port = port
        await server.start()
        self._server = server
        if unix_path is None:
            self._live_key = _live_key(cfg.endpoint, port)
            _LIVE[self._live_key] = _LIVE.get(self._live_key, 0) + 1
        if unix_path is not None:
            self._publish(address[len("unix://") :], unix_path)

    def _address(self) -> tuple[str, str | None]:
        """The address grpc binds, and the configured Unix socket path (None for TCP).

        grpc unlinks the path it bound when it stops, which would delete the socket file of the receiver that
        replaces this one on a reload. So grpc binds a private name that is then renamed over the configured path
        (atomically: clients always find a listening socket there).
        """
        endpoint = self._cfg.endpoint
        if not endpoint.startswith(UNIX_PREFIX):
            return endpoint, None
        path = endpoint[len(UNIX_PREFIX) :]
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        return f"unix://{path}.{os.getpid()}.{secrets.token_hex(4)}", path

    def _publish(self, bound: str, path: str) -> None:
        os.chmod(bound, _UNIX_MODE)
        os.rename(bound, path)
        self._unix = (path, os.stat(path).st_ino)

    async def shutdown(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop(min(_SHUTDOWN_GRACE, self._lifecycle.remaining(_SHUTDOWN_GRACE)))
        if self._live_key is not None:
            left = _LIVE.pop(self._live_key) - 1
            if left:
                _LIVE[self._live_key] = left
            self._live_key = None
        if self._unix is not None:
            path, inode = self._unix
            self._unix = None
            with contextlib.suppress(OSError):
                if os.stat(path).st_ino == inode:  # still ours: no newer receiver took the path over
                    os.unlink(path)

    @staticmethod
    def _service(grpc: Any, name: str, handler: Callable[[bytes, Any], Awaitable[bytes]]) -> Any:
        # No (de)serializers: the handler gets the request bytes and returns the response bytes.
        return grpc.method_handlers_generic_handler(name, {"Export": grpc.unary_unary_rpc_method_handler(handler)})

    def _handler(self, signal: Signal, parse: Parse) -> Callable[[bytes, Any], Awaitable[bytes]]:
        import grpc
        from google.protobuf.message import DecodeError  # type: ignore[import-untyped,unused-ignore]

        consumer = self._consumers[signal]
        tel, log, token = self._tel, self._log, self._token

        async def export(request: bytes, context: Any) -> bytes:
            tel.requests.inc()
            tel.request_bytes.inc(len(request))
            if token is not None and not _authorized(context, token):
                tel.auth_failures.inc()
                log.warning("otlp receiver: request without a valid bearer token", extra={"transport": "grpc"})
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
                return b""  # not reached: abort raises
            try:
                batch = parse(request)
            except DecodeError as e:
                tel.malformed("protobuf")
                log.warning(
                    "otlp receiver: malformed request",
                    extra={"transport": "grpc", "reason": "protobuf", "error": str(e)},
                )
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot parse the {signal} request: {e}")
                return b""
            refusal = await common.push(consumer, batch, tel, log)
            if refusal is None:
                return b""  # an empty Export*ServiceResponse: full success
            if isinstance(refusal, common.Partial):
                return bytes(common.export_response(signal, refusal).SerializeToString())
            code = _CODES[refusal.code]
            if refusal.retry_after is None:
                await context.abort(getattr(grpc.StatusCode, code), refusal.message)
                return b""
            status: Any = common.status_message(refusal.code, refusal.message, refusal.retry_after)
            await context.abort(
                getattr(grpc.StatusCode, code),
                refusal.message,
                trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),),
            )
            return b""

        return export


_CODES = {
    common.INVALID_ARGUMENT: "INVALID_ARGUMENT",
    common.INTERNAL: "INTERNAL",
    common.UNAVAILABLE: "UNAVAILABLE",
    common.RESOURCE_EXHAUSTED: "RESOURCE_EXHAUSTED",
}


def _authorized(context: Any, token: bytes) -> bool:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return common.check_bearer(value, token)
    return False


# TCP (host, port) -> gRPC receivers of this process listening there right now.
_LIVE: dict[tuple[str, int], int] = {}


def _live_key(endpoint: str, port: int) -> tuple[str, int]:
    host, _ = parse_endpoint(endpoint)
    return host, port


def _check_not_taken(endpoint: str) -> None:
    """Fail if another program listens on the endpoint's port.

    grpc binds with SO_REUSEPORT (which lets a reload start the new server before the old one stops), so it would
    share a port with any other SO_REUSEPORT listener of the same user instead of failing. A probe bind without
    SO_REUSEPORT detects such a listener; it is skipped while a receiver of this process holds the port.
    """
    host, port = parse_endpoint(endpoint)
    if port == 0 or (host, port) in _LIVE:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
        try:
            probe.bind((host, port))
        except OSError as e:
            raise OSError(f"otlp receiver: cannot listen for gRPC on {endpoint}: {e.strerror}") from None


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()
