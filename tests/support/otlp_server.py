"""A test OTLP backend: gRPC (the official generated `TraceService` / `MetricsService` / `LogsService` servicer
classes of opentelemetry-proto) and HTTP (`POST /v1/traces|metrics|logs`, protobuf or JSON, gzip), on
127.0.0.1 port 0. It records every request and answers from a scripted sequence of replies.

    async with OTLPServer() as srv:            # or: with OTLPServer() as srv: (background thread)
        srv.script(Reply(code=grpc.StatusCode.UNAVAILABLE, retry_delay=0.05), Reply())
        ... send to srv.endpoint (gRPC host:port) or srv.http_endpoint (http://127.0.0.1:port) ...
        await srv.wait_for(spans=10)             # sync tests: srv.wait_for_sync(spans=10)
        srv.received     # requests answered with success (partial success included), in arrival order
        srv.attempts     # every request, with the status it was answered with

Replies are taken in order by any request (gRPC uses `code`, HTTP uses `status`); when the script is
empty every request succeeds. TLS: `OTLPServer(tls=ServerTLS(cert_file, key_file, client_ca_file))`.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tests.support.server_base import ServerBase

_MESSAGES: dict[str, tuple[Any, Any, str]] = {
    "traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse, "spans"),
    "metrics": (
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
        "data_points",
    ),
    "logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse, "log_records"),
}
_HTTP_TO_GRPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 413: 8, 429: 8, 500: 13, 502: 14, 503: 14, 504: 4}


@dataclass
class Reply:
    """One scripted answer. gRPC requests use `code`, HTTP requests use `status`."""

    code: grpc.StatusCode = grpc.StatusCode.OK
    status: int = 200
    message: str = ""
    retry_delay: float | None = None  # gRPC: attach google.rpc.RetryInfo{retry_delay}
    retry_after: str | None = None  # HTTP: the Retry-After header, verbatim
    rejected: int = 0  # success with partial_success.rejected_<items>
    delay: float = 0.0  # seconds to wait before answering


@dataclass
class ServerTLS:
    cert_file: str
    key_file: str
    client_ca_file: str | None = None  # set: require client certificates (mTLS)


@dataclass
class Request:
    signal: str  # traces | metrics | logs
    transport: str  # grpc | http
    message: Any  # the parsed Export*ServiceRequest
    raw: bytes  # the request body as received (after gzip decompression)
    headers: dict[str, str]  # gRPC metadata / HTTP headers, lower-case keys
    answer: str = "OK"  # gRPC code name or HTTP status
    compressed: bool = False  # HTTP: Content-Encoding: gzip
    at: float = field(default_factory=time.monotonic)  # arrival time


def _count(signal: str, msg: Any) -> int:
    if signal == "traces":
        return sum(len(ss.spans) for rs in msg.resource_spans for ss in rs.scope_spans)
    if signal == "metrics":
        n = 0
        for rm in msg.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    n += len(getattr(m, kind).data_points) if kind else 0
        return n
    return sum(len(sl.log_records) for rl in msg.resource_logs for sl in rl.scope_logs)


class OTLPServer(ServerBase):
    def __init__(
        self,
        grpc_enabled: bool = True,
        http_enabled: bool = True,
        tls: ServerTLS | None = None,
        grpc_port: int = 0,
        http_port: int = 0,
        unix_path: str | None = None,
    ) -> None:
        super().__init__()
        self.grpc_enabled = grpc_enabled or unix_path is not None
        self.http_enabled = http_enabled
        self.tls = tls
        self.received: list[Request] = []
        self.attempts: list[Request] = []
        self.endpoint = ""  # gRPC: 127.0.0.1:port (or unix:///path)
        self.http_endpoint = ""  # http(s)://127.0.0.1:port
        self._grpc_port = grpc_port
        self._http_port = http_port
        self._unix_path = unix_path
        self._replies: deque[Reply] = deque()
        self._grpc: grpc.aio.Server | None = None
        self._runner: web.AppRunner | None = None

    # -- scripting and inspection
    def script(self, *replies: Reply) -> None:
        self._replies.extend(replies)

    def spans(self) -> int:
        return sum(_count(r.signal, r.message) for r in self.received if r.signal == "traces")

    def metric_points(self) -> int:
        return sum(_count(r.signal, r.message) for r in self.received if r.signal == "metrics")

    async def wait_for(self, spans: int = 0, metric_points: int = 0, attempts: int = 0, within: float = 10.0) -> None:
        await self.wait_until(
            lambda: self.spans() >= spans and self.metric_points() >= metric_points and len(self.attempts) >= attempts,
            within,
        )

    def wait_for_sync(self, spans: int = 0, metric_points: int = 0, attempts: int = 0, within: float = 10.0) -> None:
        """`wait_for` for synchronous tests (the server running in its background thread)."""
        self.wait_until_sync(
            lambda: self.spans() >= spans and self.metric_points() >= metric_points and len(self.attempts) >= attempts,
            within,
        )

    def _next(self) -> Reply:
        return self._replies.popleft() if self._replies else Reply()

    # -- lifecycle
    async def _start(self) -> None:
        if self.grpc_enabled:
            await self._start_grpc()
        if self.http_enabled:
            await self._start_http()

    async def _stop(self) -> None:
        if self._grpc is not None:
            await self._grpc.stop(grace=None)
            self._grpc = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _start_grpc(self) -> None:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceServicer(self), server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_MetricsServicer(self), server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_LogsServicer(self), server)
        if self._unix_path is not None:
            server.add_insecure_port(f"unix:{self._unix_path}")
            self.endpoint = f"unix://{self._unix_path}"
        elif self.tls is not None:
            creds = grpc.ssl_server_credentials(
                [(_read(self.tls.key_file), _read(self.tls.cert_file))],
                root_certificates=_read(self.tls.client_ca_file) if self.tls.client_ca_file else None,
                require_client_auth=self.tls.client_ca_file is not None,
            )
            port = server.add_secure_port(f"127.0.0.1:{self._grpc_port}", creds)
            self.endpoint = f"127.0.0.1:{port}"
        else:
            port = server.add_insecure_port(f"127.0.0.1:{self._grpc_port}")
            self.endpoint = f"127.0.0.1:{port}"
        await server.start()
        self._grpc = server

    async def _start_http(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/{signal}", self._http_export)
        app.router.add_post("/custom/{signal}", self._http_export)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        ssl_ctx = None
        if self.tls is not None:
            ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_ctx.load_cert_chain(self.tls.cert_file, self.tls.key_file)
            if self.tls.client_ca_file:
                ssl_ctx.load_verify_locations(self.tls.client_ca_file)
                ssl_ctx.verify_mode = ssl.CERT_REQUIRED
        site = web.TCPSite(self._runner, "127.0.0.1", self._http_port, ssl_context=ssl_ctx)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.http_endpoint = f"{'https' if ssl_ctx else 'http'}://127.0.0.1:{port}"

    # -- gRPC
    async def grpc_export(self, signal: str, request: Any, context: grpc.aio.ServicerContext) -> Any:
        reply = self._next()
        headers = {k: v if isinstance(v, str) else v.hex() for k, v in context.invocation_metadata() or ()}
        rec = Request(signal, "grpc", request, request.SerializeToString(), headers, reply.code.name)
        self.attempts.append(rec)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.code != grpc.StatusCode.OK:
            trailing: tuple[tuple[str, bytes], ...] = ()
            if reply.retry_delay is not None:
                info = error_details_pb2.RetryInfo(retry_delay=_duration(reply.retry_delay))
                detail = any_pb2.Any()
                detail.Pack(info)
                status = status_pb2.Status(code=reply.code.value[0], message=reply.message, details=[detail])
                trailing = (("grpc-status-details-bin", status.SerializeToString()),)
            await context.abort(reply.code, reply.message, trailing)
        self.received.append(rec)
        return _response(signal, reply)

    # -- HTTP
    async def _http_export(self, request: web.Request) -> web.Response:
        signal = request.match_info["signal"]
        if signal not in _MESSAGES:
            return web.Response(status=404)
        # aiohttp inflates a gzip body itself (and answers 400 if it is not valid gzip)
        compressed = request.headers.get("Content-Encoding", "").lower() == "gzip"
        body = await request.read()
        is_json = request.content_type == "application/json"
        msg = _MESSAGES[signal][0]()
        if is_json:
            from edgetel.component.ids import Signal
            from edgetel.pdata import otlpjson

            msg = otlpjson.decode(body, Signal(signal)).request
        else:
            msg.ParseFromString(body)
        reply = self._next()
        headers = {k.lower(): v for k, v in request.headers.items()}
        rec = Request(signal, "http", msg, body, headers, str(reply.status), compressed)
        self.attempts.append(rec)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        extra = {"Retry-After": reply.retry_after} if reply.retry_after is not None else None
        ctype = "application/json" if is_json else "application/x-protobuf"
        if reply.status != 200:
            code = _HTTP_TO_GRPC_CODE.get(reply.status, 2)
            if is_json:
                payload = json.dumps({"code": code, "message": reply.message}).encode()
            else:
                payload = status_pb2.Status(code=code, message=reply.message).SerializeToString()
            return web.Response(status=reply.status, body=payload, content_type=ctype, headers=extra)
        self.received.append(rec)
        resp = _response(signal, reply)
        if is_json:
            ps = {}
            if reply.rejected or reply.message:
                item = _MESSAGES[signal][2]
                camel = "rejected" + "".join(p.title() for p in item.split("_"))
                ps = {"partialSuccess": {camel: str(reply.rejected), "errorMessage": reply.message}}
            return web.Response(body=json.dumps(ps).encode(), content_type=ctype)
        return web.Response(body=resp.SerializeToString(), content_type=ctype)


def _response(signal: str, reply: Reply) -> Any:
    _, resp_cls, item = _MESSAGES[signal]
    resp = resp_cls()
    if reply.rejected or reply.message:
        setattr(resp.partial_success, f"rejected_{item}", reply.rejected)
        resp.partial_success.error_message = reply.message
    return resp


def _duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(round(seconds * 1e9))
    return d


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class _TraceServicer(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self, server: OTLPServer) -> None:
        self.server = server

    async def Export(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self.server.grpc_export("traces", request, context)


class _MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):  # type: ignore[misc]
    def __init__(self, server: OTLPServer) -> None:
        self.server = server

    async def Export(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self.server.grpc_export("metrics", request, context)


class _LogsServicer(logs_service_pb2_grpc.LogsServiceServicer):  # type: ignore[misc]
    def __init__(self, server: OTLPServer) -> None:
        self.server = server

    async def Export(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self.server.grpc_export("logs", request, context)


__all__ = ["OTLPServer", "Reply", "Request", "ServerTLS"]
