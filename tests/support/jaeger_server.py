"""A test Jaeger collector: gRPC `jaeger.api_v2.CollectorService/PostSpans` on 127.0.0.1 port 0.

    async with JaegerServer() as srv:          # or: with JaegerServer() as srv: (background thread)
        srv.script(grpc.StatusCode.UNAVAILABLE)  # optional: answer the next calls with these codes
        ... send to srv.endpoint ...
        await srv.wait_for(spans=10)           # sync tests: srv.wait_for_sync(spans=10)
        srv.received   # PostSpans requests answered OK: .message (PostSpansRequest), .raw bytes, .headers
        srv.attempts   # every call, with .answer (the code name)

The messages are decoded with edgetel's runtime-built descriptors (edgetel.exporters.jaeger.model); tests
that check the field numbers themselves decode `.raw` independently (tests/otlp_export/test_jaeger.py).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import grpc

from edgetel.exporters.jaeger import model
from tests.support.otlp_server import ServerTLS, _read
from tests.support.server_base import ServerBase


@dataclass
class PostSpans:
    message: Any  # jaeger.api_v2.PostSpansRequest
    raw: bytes
    headers: dict[str, str]
    answer: str = "OK"
    at: float = field(default_factory=time.monotonic)


class JaegerServer(ServerBase):
    def __init__(self, tls: ServerTLS | None = None, port: int = 0) -> None:
        super().__init__()
        self.tls = tls
        self.received: list[PostSpans] = []
        self.attempts: list[PostSpans] = []
        self.endpoint = ""
        self._port = port
        self._codes: deque[tuple[grpc.StatusCode, str]] = deque()
        self._server: grpc.aio.Server | None = None

    def script(self, *codes: grpc.StatusCode, message: str = "scripted failure") -> None:
        self._codes.extend((c, message) for c in codes)

    def spans(self) -> list[Any]:
        return [s for r in self.received for s in r.message.batch.spans]

    async def wait_for(self, spans: int = 0, attempts: int = 0, within: float = 10.0) -> None:
        await self.wait_until(lambda: len(self.spans()) >= spans and len(self.attempts) >= attempts, within)

    def wait_for_sync(self, spans: int = 0, attempts: int = 0, within: float = 10.0) -> None:
        self.wait_until_sync(lambda: len(self.spans()) >= spans and len(self.attempts) >= attempts, within)

    async def _post_spans(self, raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        headers = {k: v if isinstance(v, str) else v.hex() for k, v in context.invocation_metadata() or ()}
        code, message = self._codes.popleft() if self._codes else (grpc.StatusCode.OK, "")
        rec = PostSpans(model.PostSpansRequest.FromString(raw), raw, headers, code.name)
        self.attempts.append(rec)
        if code != grpc.StatusCode.OK:
            await context.abort(code, message)
        self.received.append(rec)
        return bytes(model.PostSpansResponse().SerializeToString())

    async def _start(self) -> None:
        server = grpc.aio.server()
        handler = grpc.method_handlers_generic_handler(
            "jaeger.api_v2.CollectorService",
            {
                "PostSpans": grpc.unary_unary_rpc_method_handler(
                    self._post_spans, request_deserializer=None, response_serializer=None
                )
            },
        )
        server.add_generic_rpc_handlers((handler,))
        if self.tls is not None:
            creds = grpc.ssl_server_credentials(
                [(_read(self.tls.key_file), _read(self.tls.cert_file))],
                root_certificates=_read(self.tls.client_ca_file) if self.tls.client_ca_file else None,
                require_client_auth=self.tls.client_ca_file is not None,
            )
            port = server.add_secure_port(f"127.0.0.1:{self._port}", creds)
        else:
            port = server.add_insecure_port(f"127.0.0.1:{self._port}")
        self.endpoint = f"127.0.0.1:{port}"
        await server.start()
        self._server = server

    async def _stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None
