"""OTLP/HTTP on a small h11 server (helpers/http11): POST /v1/traces and /v1/metrics, protobuf or JSON.

Bodies are read with a deadline and inflated incrementally with a cap on the inflated size, so a gzip bomb costs
at most `max_request_body_size` of memory. Connections are capped (`max_connections`); a connection that sends no
complete request header within `idle_timeout` (of opening or of its last response) is closed, which bounds
slow-loris clients. Errors carry a `google.rpc.Status` body in the request's content type.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import zlib
from collections.abc import Mapping
from typing import Any

from edgetel.component.ids import Signal
from edgetel.component.lifecycle import Lifecycle
from edgetel.component.protocols import Consumer
from edgetel.helpers.http11.server import Request, Response, Server
from edgetel.pdata import Batch, Metrics, Traces, otlpjson
from edgetel.pipeline.sockets import SocketPool, parse_endpoint
from edgetel.receivers.otlp import common
from edgetel.receivers.otlp.common import Telemetry
from edgetel.receivers.otlp.config import UNIX_PREFIX, HTTPSettings, TLSSettings

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_CONTENT_TYPES = {"application/x-protobuf": PROTOBUF, "application/protobuf": PROTOBUF, "application/json": JSON}
_SHUTDOWN_GRACE = 5.0
_LINGER = 2.0
_HANDSHAKE_TIMEOUT = 10.0
_JSON_INLINE = 256 * 1024


class Reject(Exception):
    """A request answered with an error status; `reason` labels the malformed-requests counter."""

    def __init__(self, status: int, code: int, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.reason = reason


class Inflater:
    """Incremental gzip/zlib inflation that refuses to produce more than `cap` bytes."""

    def __init__(self, encoding: str, cap: int) -> None:
        self._wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
        self._d = zlib.decompressobj(self._wbits)
        self._cap = cap
        self.size = 0

    def feed(self, data: bytes) -> bytes:
        out = []
        while data:
            chunk = self._d.decompress(data, self._cap + 1 - self.size)
            self.size += len(chunk)
            out.append(chunk)
            if self.size > self._cap:
                raise _too_large(self._cap)
            if self._d.eof and self._d.unused_data:  # concatenated gzip members
                data = self._d.unused_data
                self._d = zlib.decompressobj(self._wbits)
            else:
                data = b""
        return b"".join(out)

    def finish(self) -> None:
        if not self._d.eof:
            raise Reject(400, common.INVALID_ARGUMENT, "the compressed body is truncated", "compression")


def _too_large(cap: int) -> Reject:
    return Reject(
        413, common.RESOURCE_EXHAUSTED, f"the request body exceeds max_request_body_size ({cap} bytes)", "too_large"
    )


def server_ssl_context(tls: TLSSettings) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3 if tls.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file:
        ctx.load_verify_locations(tls.client_ca_file)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class HTTPServer:
    def __init__(
        self,
        cfg: HTTPSettings,
        consumers: Mapping[Signal, Consumer],
        tel: Telemetry,
        log: logging.Logger,
        sockets: SocketPool,
        lifecycle: Lifecycle,
    ) -> None:
        self._cfg = cfg
        self._tel = tel
        self._log = log
        self._sockets = sockets
        self._lifecycle = lifecycle
        self._token = cfg.auth.token()
        self._routes: dict[str, tuple[Signal, Consumer]] = {}
        if Signal.TRACES in consumers:
            self._routes[cfg.traces_url_path] = (Signal.TRACES, consumers[Signal.TRACES])
        if Signal.METRICS in consumers:
            self._routes[cfg.metrics_url_path] = (Signal.METRICS, consumers[Signal.METRICS])
        self._server: Server | None = None
        self._json_slot = asyncio.Semaphore(1)
        self.port = 0

    async def start(self) -> None:
        cfg = self._cfg
        if cfg.endpoint.startswith(UNIX_PREFIX):
            pooled = self._sockets.unix(cfg.endpoint[len(UNIX_PREFIX) :], socket.SOCK_STREAM)
        else:
            host, port = parse_endpoint(cfg.endpoint)
            pooled = self._sockets.tcp(host, port)
        sock = pooled.dup()  # closing our server must not close the pooled socket (reloads reuse it)
        server = Server(
            self._handle,
            idle_timeout=float(cfg.idle_timeout),
            max_header_size=int(cfg.max_header_size),
            max_connections=cfg.max_connections,
            # After an early answer (413, 408, ...) unread body bytes are drained this long, then the connection
            # is closed: long enough for the client to read the answer, too short to hold a connection.
            linger=min(_LINGER, float(cfg.read_timeout)),
            on_refused=self._tel.refused_connections.inc,
            on_bad_request=self._bad_http,
            on_error=self._server_error,
        )
        ssl_ctx = server_ssl_context(cfg.tls) if cfg.tls.enabled else None
        try:
            # A TLS handshake must not hold a connection for asyncio's default 60 s either.
            await server.start(sock, ssl_ctx, min(_HANDSHAKE_TIMEOUT, float(cfg.idle_timeout)))
        except BaseException:
            sock.close()
            raise
        self._server = server
        if sock.family != socket.AF_UNIX:
            self.port = sock.getsockname()[1]

    def _bad_http(self, error: str) -> None:
        """A client's malformed HTTP: counted and logged as one warning (no traceback)."""
        self._tel.malformed("http")
        self._log.warning(
            "otlp receiver: malformed request",
            extra={"transport": "http", "reason": "http", "error": (error.splitlines() or [""])[0][:200]},
        )

    def _server_error(self, exc: BaseException) -> None:
        self._log.error("otlp receiver: HTTP server error", exc_info=exc, extra={"transport": "http"})

    async def shutdown(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        grace = min(_SHUTDOWN_GRACE, self._lifecycle.remaining(_SHUTDOWN_GRACE))
        await server.shutdown(grace)

    async def _handle(self, request: Request) -> Response:
        route = self._routes.get(request.path)
        ctype = _content_type(request.headers.get("content-type", ""))
        answer_type = ctype or PROTOBUF
        try:
            if route is None:
                raise Reject(404, common.NOT_FOUND, f"no OTLP endpoint at {request.path}")
            if request.method != "POST":
                raise Reject(405, common.UNIMPLEMENTED, "use POST")
            self._tel.requests.inc()
            if self._token is not None and not common.check_bearer(request.headers.get("authorization"), self._token):
                self._tel.auth_failures.inc()
                self._log.warning("otlp receiver: request without a valid bearer token", extra={"transport": "http"})
                raise Reject(401, common.UNAUTHENTICATED, "missing or invalid bearer token")
            if ctype is None:
                raise Reject(
                    415,
                    common.INVALID_ARGUMENT,
                    f"unsupported content type, use {PROTOBUF} or {JSON}",
                    "content_type",
                )
            signal, consumer = route
            body = await self._read_body(request)
            self._tel.request_bytes.inc(len(body))
            if ctype == JSON and len(body) > _JSON_INLINE:
                # JSON decodes at a few MB/s into Python objects ~10x its size: off the event loop, so other
                # requests keep flowing, and one at a time, so memory stays bounded.
                async with self._json_slot:
                    batch = await asyncio.to_thread(_parse, body, ctype, signal)
            else:
                batch = _parse(body, ctype, signal)
            refusal = await common.push(consumer, batch, self._tel, self._log)
            if isinstance(refusal, common.Refusal):
                status = {common.UNAVAILABLE: 503, common.INVALID_ARGUMENT: 400}.get(refusal.code, 500)
                return _status_response(status, refusal.code, refusal.message, ctype, refusal.retry_after)
            if refusal is None:
                body = b"{}" if ctype == JSON else b""
            else:
                msg = common.export_response(signal, refusal)
                body = otlpjson.encode_message(msg) if ctype == JSON else msg.SerializeToString()
            return Response(200, body, [("Content-Type", ctype)])
        except Reject as r:
            if r.reason:
                self._tel.malformed(r.reason)
                self._log.warning(
                    "otlp receiver: malformed request",
                    extra={"transport": "http", "reason": r.reason, "error": r.message},
                )
            resp = _status_response(r.status, r.code, r.message, answer_type, None)
            if r.status == 405:
                resp.headers.append(("Allow", "POST"))
            if r.status == 401:
                resp.headers.append(("WWW-Authenticate", "Bearer"))
            if r.reason in ("too_large", "compression", "timeout"):
                resp.close = True  # the rest of the body is not worth reading
            return resp

    async def _read_body(self, request: Request) -> bytes:
        cap = int(self._cfg.max_request_body_size)
        encoding = request.headers.get("content-encoding", "").strip().lower()
        inflater: Inflater | None = None
        if encoding in ("gzip", "x-gzip"):
            inflater = Inflater("gzip", cap)
        elif encoding == "deflate":
            inflater = Inflater("deflate", cap)
        elif encoding not in ("", "identity"):
            raise Reject(415, common.INVALID_ARGUMENT, "unsupported Content-Encoding, use gzip", "encoding")
        length = request.content_length
        if length is not None and length > cap:
            raise _too_large(cap)
        parts: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(float(self._cfg.read_timeout)):
                async for chunk in request.chunks():
                    if inflater is None:
                        size += len(chunk)
                        if size > cap:
                            raise _too_large(cap)
                        parts.append(chunk)
                    else:
                        parts.append(inflater.feed(chunk))
        except TimeoutError:
            raise Reject(408, common.INVALID_ARGUMENT, "the request body was not received in time", "timeout") from None
        except zlib.error as e:
            raise Reject(400, common.INVALID_ARGUMENT, f"cannot inflate the body: {e}", "compression") from None
        if inflater is not None:
            inflater.finish()
        return b"".join(parts)


def _content_type(header: str) -> str | None:
    return _CONTENT_TYPES.get(header.partition(";")[0].strip().lower())


def _parse(body: bytes, ctype: str, signal: Signal) -> Batch:
    if ctype == JSON:
        try:
            return otlpjson.decode(body, signal)
        except ValueError as e:
            raise Reject(400, common.INVALID_ARGUMENT, f"invalid OTLP JSON: {e}", "json") from None
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped,unused-ignore]

    try:
        return Traces.parse(body) if signal == Signal.TRACES else Metrics.parse(body)
    except DecodeError as e:
        raise Reject(400, common.INVALID_ARGUMENT, f"cannot parse the protobuf body: {e}", "protobuf") from None


def _status_response(status: int, code: int, message: str, ctype: str, retry_after: float | None) -> Response:
    msg: Any = common.status_message(code, message, retry_after)
    body = otlpjson.encode_message(msg) if ctype == JSON else msg.SerializeToString()
    resp = Response(status, body, [("Content-Type", ctype)])
    if retry_after is not None:
        resp.headers.append(("Retry-After", str(common.retry_after_seconds(retry_after))))
    return resp
