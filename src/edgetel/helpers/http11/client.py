"""A small asyncio HTTP/1.1 client on h11 for exporters: one request at a time per connection, a small bounded
keep-alive pool per origin, TLS, a total timeout per request, bounded response bodies.

A request on a reused keep-alive connection that fails before any response byte (the server closed the idle
connection meanwhile) is sent once more on a new connection. Transport failures raise `ClientError`; a request
that does not complete within `timeout` raises `TimeoutError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import Iterable
from urllib.parse import urlsplit

import h11

_READ = 65536
_HEAD_CAP = 64 * 1024


class ClientError(Exception):
    """The request could not be sent or its answer not read (connection refused or reset, TLS, bad HTTP)."""


class ClientResponse:
    __slots__ = ("body", "headers", "status", "truncated")

    def __init__(self, status: int, headers: dict[str, str], body: bytes, truncated: bool) -> None:
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body
        self.truncated = truncated  # the body was longer than the caller's cap

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case (application/octet-stream when absent)."""
        value = self.headers.get("content-type", "").partition(";")[0].strip().lower()
        return value or "application/octet-stream"

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Conn:
    __slots__ = ("h11", "idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_HEAD_CAP)
        self.idle_since = time.monotonic()

    def usable(self, keepalive: float) -> bool:
        return (
            not self.reader.at_eof()
            and not self.writer.transport.is_closing()
            and time.monotonic() - self.idle_since < keepalive
        )

    def close(self) -> None:
        self.writer.transport.abort()


class _Origin:
    def __init__(self, limit: int) -> None:
        self.idle: deque[_Conn] = deque()
        self.slots = asyncio.Semaphore(limit)


class HTTPClient:
    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
        max_connections: int = 4,
        keepalive: float = 15.0,
        server_hostname: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.max_connections = max_connections
        self.keepalive = keepalive  # idle connections older than this are not reused (servers close them)
        self.server_hostname = server_hostname
        self.headers = list(headers)
        self._origins: dict[tuple[str, str, int], _Origin] = {}
        self._closed = False

    async def request(
        self,
        method: str,
        url: str,
        body: bytes = b"",
        headers: Iterable[tuple[str, str]] = (),
        max_body: int = 64 * 1024,
    ) -> ClientResponse:
        """Sends one request; the answer's body is read up to `max_body` bytes (the rest is discarded)."""
        if self._closed:
            raise ClientError("the client is closed")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ClientError(f"unsupported URL {url!r}")
        host = parts.hostname
        port = parts.port or (443 if scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        hostport = f"[{host}]" if ":" in host else host
        if parts.port:
            hostport += f":{parts.port}"
        all_headers = [("Host", hostport), *self.headers, *headers, ("Content-Length", str(len(body)))]
        origin = self._origins.setdefault((scheme, host, port), _Origin(self.max_connections))
        async with asyncio.timeout(self.timeout), origin.slots:
            for _ in range(2):
                conn, reused = self._pooled(origin)
                if conn is None:
                    conn = await self._connect(scheme, host, port)
                got_bytes = [False]
                try:
                    resp, keep = await self._exchange(conn, method, target, all_headers, body, max_body, got_bytes)
                except (OSError, ssl.SSLError, h11.ProtocolError, EOFError) as e:
                    conn.close()
                    if reused and not got_bytes[0]:
                        continue  # a stale keep-alive connection: once more on a new one
                    raise ClientError(_describe(e)) from None
                except BaseException:
                    conn.close()
                    raise
                if keep and not self._closed:
                    conn.h11.start_next_cycle()
                    conn.idle_since = time.monotonic()
                    origin.idle.append(conn)
                else:
                    conn.close()
                return resp
        raise ClientError("unreachable")  # pragma: no cover

    def _pooled(self, origin: _Origin) -> tuple[_Conn | None, bool]:
        while origin.idle:
            conn = origin.idle.pop()
            if conn.usable(self.keepalive):
                return conn, True
            conn.close()
        return None, False

    async def _connect(self, scheme: str, host: str, port: int) -> _Conn:
        tls = scheme == "https"
        if tls and self.ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        try:
            reader, writer = await asyncio.open_connection(
                host,
                port,
                ssl=self.ssl_context if tls else None,
                server_hostname=(self.server_hostname or host) if tls else None,
                limit=_READ,
            )
        except (OSError, ssl.SSLError) as e:
            raise ClientError(f"cannot connect to {host}:{port}: {_describe(e)}") from None
        return _Conn(reader, writer)

    async def _exchange(
        self,
        conn: _Conn,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        max_body: int,
        got_bytes: list[bool],
    ) -> tuple[ClientResponse, bool]:
        c = conn.h11
        out = c.send(h11.Request(method=method, target=target, headers=headers)) or b""
        if body:
            out += c.send(h11.Data(data=body)) or b""
        out += c.send(h11.EndOfMessage()) or b""
        conn.writer.write(out)
        await conn.writer.drain()
        status = 0
        resp_headers: dict[str, str] = {}
        chunks: list[bytes] = []
        size = 0
        truncated = False
        while True:
            event = c.next_event()
            if event is h11.NEED_DATA:
                data = await conn.reader.read(_READ)
                if data:
                    got_bytes[0] = True
                elif c.their_state is h11.SEND_RESPONSE:
                    raise ConnectionResetError("the server closed the connection without an answer")
                c.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                for name, value in event.headers:
                    key, text = name.decode("latin-1"), value.decode("latin-1")
                    resp_headers[key] = f"{resp_headers[key]}, {text}" if key in resp_headers else text
            elif isinstance(event, h11.Data):
                room = max_body - size
                if len(event.data) > room:
                    chunks.append(bytes(event.data[:room]))
                    truncated = True
                    break  # the rest is not read: the connection is not reused
                chunks.append(bytes(event.data))
                size += len(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionResetError("the server closed the connection within the answer")
            # InformationalResponse (100 Continue): skip
        keep = not truncated and c.our_state is h11.DONE and c.their_state is h11.DONE
        return ClientResponse(status, resp_headers, b"".join(chunks), truncated), keep

    async def close(self) -> None:
        self._closed = True
        for origin in self._origins.values():
            while origin.idle:
                conn = origin.idle.pop()
                with contextlib.suppress(Exception):
                    conn.writer.close()
        self._origins.clear()
        await asyncio.sleep(0)


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
