"""A small asyncio HTTP/1.1 server on h11, for receivers that take their listening socket from the socket pool.

Bounds: a connection must send a complete request head within `idle_timeout` (of opening or of its last
response), each request line / header field is at most `max_header_size` bytes, at most `max_connections` are
served (more are answered 503 and closed). The handler reads the body itself, chunk by chunk, so it can stop at
its own cap; a body it leaves unread is drained for at most `linger` seconds after the answer, then the
connection is closed. Malformed HTTP gets a plain `400` and a closed connection, reported to `on_bad_request`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus

import h11

_READ = 65536
_ARRIVING_GRACE = 0.25  # seconds a shutdown waits for the first request of a connection just opened
_REFUSE = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_BAD = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"


class BadRequest(Exception):
    """The client broke HTTP (bad framing, oversized head, ...)."""


class Request:
    """One request: method, path (without the query), lower-cased headers; the body is read with `chunks()`."""

    def __init__(self, conn: _Connection, method: str, target: str, headers: dict[str, str], http11: bool) -> None:
        self._conn = conn
        self.method = method
        self.target = target
        self.path = target.partition("?")[0]
        self.headers = headers
        self.body_done = False
        self.keep_alive = http11 and "close" not in headers.get("connection", "").lower()
        self.expects_continue = http11 and "100-continue" in headers.get("expect", "").lower()

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.isdigit() else None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (no timeout here: the caller bounds the time); ends at the end of the body."""
        while not self.body_done:
            data = await self._conn.body_chunk(self)
            if data:
                yield data


class Response:
    __slots__ = ("body", "close", "headers", "status")

    def __init__(
        self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None, close: bool = False
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else []
        self.close = close  # close the connection after this answer (the rest of the body is not worth reading)


Handler = Callable[[Request], Awaitable[Response]]


class Server:
    def __init__(
        self,
        handler: Handler,
        *,
        idle_timeout: float,
        max_header_size: int,
        max_connections: int,
        linger: float,
        on_refused: Callable[[], None] = lambda: None,
        on_bad_request: Callable[[str], None] = lambda _: None,
        on_error: Callable[[BaseException], None] = lambda _: None,
    ) -> None:
        self.handler = handler
        self.idle_timeout = idle_timeout
        self.max_header_size = max_header_size
        self.max_connections = max_connections
        self.linger = linger
        self.on_refused = on_refused
        self.on_bad_request = on_bad_request
        self.on_error = on_error
        self.connections: set[_Connection] = set()
        self._listener: asyncio.Server | None = None
        self._closing = False

    async def start(
        self, sock: socket.socket, ssl_context: ssl.SSLContext | None = None, handshake_timeout: float = 10.0
    ) -> None:
        """Serve on `sock` (listening, owned by the server from now on: pass a dup of a pooled socket)."""
        loop = asyncio.get_running_loop()
        timeout = handshake_timeout if ssl_context is not None else None
        if sock.family == socket.AF_UNIX:
            self._listener = await loop.create_unix_server(
                self._protocol, sock=sock, ssl=ssl_context, ssl_handshake_timeout=timeout
            )
        else:
            self._listener = await loop.create_server(
                self._protocol, sock=sock, ssl=ssl_context, ssl_handshake_timeout=timeout
            )

    def _protocol(self) -> asyncio.BaseProtocol:
        if self._closing or len(self.connections) >= self.max_connections:
            self.on_refused()
            return _Refuse()
        reader = asyncio.StreamReader(limit=_READ)
        return asyncio.StreamReaderProtocol(reader, self._connected)

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(self, reader, writer)
        self.connections.add(conn)
        try:
            await conn.serve()
        finally:
            self.connections.discard(conn)

    async def shutdown(self, grace: float) -> None:
        """Stop listening, let requests in flight finish within `grace` seconds, close every connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            await stop_accepting(listener)
        self._closing = True
        # A connection that has not sent its first request yet, or is half way through a request head, most
        # likely has a request on the wire (a reload must not reset it): a moment to arrive, then it is served.
        started = asyncio.get_running_loop().time()
        arriving = [c.task for c in self.connections if c.idle and c.task is not None and c.arriving()]
        if arriving:
            await asyncio.wait(arriving, timeout=min(grace, _ARRIVING_GRACE))
        for conn in list(self.connections):
            if conn.idle:
                conn.abort()
        busy = [c.task for c in self.connections if c.task is not None]
        if busy:
            await asyncio.wait(busy, timeout=max(0.0, grace - (asyncio.get_running_loop().time() - started)))
        for conn in list(self.connections):
            conn.abort()
        await asyncio.sleep(0)
        if listener is not None:
            await listener.wait_closed()


async def stop_accepting(listener: asyncio.Server) -> None:
    """Close a listener without losing the connections asyncio accepted a moment ago: it sets them up a few
    loop turns later, and once the server is closed it drops them (the client gets a reset), so stop accepting
    first, let them become ordinary connections, then close."""
    loop = asyncio.get_running_loop()
    for sock in listener.sockets:
        loop.remove_reader(sock.fileno())
    for _ in range(5):
        await asyncio.sleep(0)
    listener.close()


class _Refuse(asyncio.Protocol):
    """Answers 503 and closes: the connection limit is reached."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_REFUSE)
        transport.close()


class _Connection:
    def __init__(self, server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.h11 = self._parser()
        self.idle = True
        self.served = 0
        self.task = asyncio.current_task()

    def arriving(self) -> bool:
        return self.served == 0 or bool(self.h11.trailing_data[0])

    def _parser(self) -> h11.Connection:
        # h11 parses requests only (one parser per request): answers are written directly, which costs a
        # fraction of h11's validating writer. Its head cap is for the whole head; each line is checked against
        # max_header_size in _request.
        return h11.Connection(h11.SERVER, max_incomplete_event_size=4 * self.server.max_header_size + 1024)

    def abort(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.writer.transport.abort()

    async def serve(self) -> None:
        try:
            while await self._one():
                data, closed = self.h11.trailing_data  # a pipelined next request, if any
                self.h11 = self._parser()
                if data:
                    self.h11.receive_data(bytes(data))
                if closed:
                    self.h11.receive_data(b"")
        except BadRequest as e:
            await self._bad(str(e))
        except (ConnectionError, TimeoutError, asyncio.CancelledError, ssl.SSLError):
            pass
        except Exception as e:  # a bug, not the client's doing
            self.server.on_error(e)
        finally:
            self.writer.close()

    async def _next(self) -> h11.Event | type[h11.PAUSED] | type[h11.NEED_DATA]:
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as e:
                raise BadRequest(str(e)) from None
            if event is not h11.NEED_DATA:
                return event
            data = await self.reader.read(_READ)
            if not data and self.h11.their_state is h11.SEND_BODY:
                raise ConnectionResetError("the client closed the connection within a body")
            self.h11.receive_data(data)

    async def _one(self) -> bool:
        """Serves one request; True to go on with the next one on this connection."""
        self.idle = True
        try:
            async with asyncio.timeout(self.server.idle_timeout):
                event = await self._next()
        except TimeoutError:
            return False
        self.idle = False
        self.served += 1
        if not isinstance(event, h11.Request):
            return False  # ConnectionClosed
        request = self._request(event)
        try:
            response = await self.server.handler(request)
        except (BadRequest, ConnectionError):
            raise
        except Exception as e:
            self.server.on_error(e)
            response = Response(500, b"internal error", [("Content-Type", "text/plain")], close=True)
        close = response.close or not request.body_done or not request.keep_alive or self.server._closing
        await self._send(response, close)
        if close and not request.body_done:
            await self._linger()
        return not close

    def _request(self, event: h11.Request) -> Request:
        cap = self.server.max_header_size
        if len(event.target) > cap:
            raise BadRequest("request line too long")
        headers: dict[str, str] = {}
        for name, value in event.headers:
            if len(name) + len(value) + 2 > cap:
                raise BadRequest("header field too long")
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        http11 = event.http_version == b"1.1"
        return Request(self, event.method.decode("ascii"), event.target.decode("latin-1"), headers, http11)

    async def body_chunk(self, request: Request) -> bytes:
        if request.expects_continue:
            request.expects_continue = False
            await self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
        event = await self._next()
        if isinstance(event, h11.Data):
            return bytes(event.data)
        if isinstance(event, h11.EndOfMessage):
            request.body_done = True
            return b""
        raise BadRequest(f"unexpected {type(event).__name__} within a request body")

    async def _send(self, response: Response, close: bool) -> None:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in response.headers]
        lines.append(f"Content-Length: {len(response.body)}")
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        await self._write(head + response.body)

    async def _write(self, data: bytes) -> None:
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size():  # the client does not read: bounded wait
            async with asyncio.timeout(self.server.idle_timeout):
                await self.writer.drain()

    async def _linger(self) -> None:
        """Reads and discards what the client still sends, briefly, so the answer is not lost to a reset."""
        with contextlib.suppress(Exception):
            if self.writer.can_write_eof():
                self.writer.write_eof()
            async with asyncio.timeout(self.server.linger):
                while await self.reader.read(_READ):
                    pass

    async def _bad(self, message: str) -> None:
        self.server.on_bad_request(message)
        text = message.encode("utf-8", "replace")[:200]
        with contextlib.suppress(Exception):
            self.writer.write(_BAD + b"Content-Length: %d\r\n\r\n" % len(text) + text)
            async with asyncio.timeout(1.0):
                await self.writer.drain()
            await self._linger()
