"""A small HTTP/1.1 server on asyncio streams for the admin endpoint.

Plain asyncio rather than aiohttp keeps the idle agent small (aiohttp alone is ~14 MiB of RSS). It serves
GET and HEAD only, one request per connection, with a bounded request head and a read timeout.

Past `MAX_CONNECTIONS` open connections (slow or stuck clients), a new connection gets a short read timeout and
only the probe paths are served, so liveness and readiness probes keep answering; past `HARD_LIMIT` a connection
is answered 503 at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("edgetel.admin")

MAX_HEAD = 16 * 1024
READ_TIMEOUT = 10.0
MAX_CONNECTIONS = 64
HARD_LIMIT = 256
PROBE_TIMEOUT = 1.0
PROBE_PATHS = frozenset({"/healthz", "/readyz"})


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


Handler = Callable[[str], Awaitable[Response]]
_REASONS = {
    200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable",
}  # fmt: skip


class AdminServer:
    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self._server: asyncio.Server | None = None
        self._connections = 0

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._handle, host, port, limit=MAX_HEAD, reuse_address=True)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        try:
            if self._connections > HARD_LIMIT:
                await self._write(writer, Response(503, b"too many connections\n"), head_only=False)
                return
            crowded = self._connections > MAX_CONNECTIONS
            try:
                head = await asyncio.wait_for(
                    reader.readuntil(b"\r\n\r\n"), PROBE_TIMEOUT if crowded else READ_TIMEOUT
                )
            except (asyncio.LimitOverrunError, ValueError):
                await self._write(writer, Response(431, b"request head too large\n"), head_only=False)
                return
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split()
            if len(parts) != 3:
                await self._write(writer, Response(400, b"bad request\n"), head_only=False)
                return
            method, target, _ = parts
            path, _, query = target.partition("?")
            if method not in ("GET", "HEAD"):
                await self._write(writer, Response(405, b"method not allowed\n"), head_only=False)
                return
            handler = self.routes.get(path)
            if crowded and path not in PROBE_PATHS:
                resp = Response(503, b"too many connections\n")
            elif handler is None:
                resp = Response(404, b"not found\n")
            else:
                try:
                    resp = await handler(query)
                except Exception:
                    log.exception("admin handler failed", extra={"path": path})
                    resp = Response(500, b"internal error\n")
            await self._write(writer, resp, head_only=method == "HEAD")
        finally:
            self._connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, resp: Response, head_only: bool) -> None:
        reason = _REASONS.get(resp.status, "")
        head = (
            f"HTTP/1.1 {resp.status} {reason}\r\nContent-Type: {resp.content_type}\r\n"
            f"Content-Length: {len(resp.body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
        ).encode("latin-1")
        writer.write(head if head_only else head + resp.body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
