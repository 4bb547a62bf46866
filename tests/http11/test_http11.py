"""helpers/http11: the h11 server and client against each other, raw sockets and the stdlib's http.client."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from edgetel.helpers.http11.client import ClientError, HTTPClient
from edgetel.helpers.http11.server import Request, Response, Server
from tests.otlp_receiver.certs import Certs, make_certs


async def echo(request: Request) -> Response:
    body = b"".join([c async for c in request.chunks()])
    if request.path == "/slow":
        await asyncio.sleep(1.0)
    if request.path == "/big":
        return Response(200, b"z" * 200_000)
    return Response(200, body, [("X-Method", request.method), ("X-Path", request.target)])


def listener() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


@asynccontextmanager
async def serving(ssl_ctx: ssl.SSLContext | None = None, **kw: float) -> AsyncIterator[tuple[Server, int, list[str]]]:
    bad: list[str] = []
    opts = {"idle_timeout": 2.0, "max_header_size": 8190, "max_connections": 8, "linger": 0.5, **kw}
    server = Server(
        echo,
        idle_timeout=float(opts["idle_timeout"]),
        max_header_size=int(opts["max_header_size"]),
        max_connections=int(opts["max_connections"]),
        linger=float(opts["linger"]),
        on_bad_request=bad.append,
    )
    sock = listener()
    port = sock.getsockname()[1]
    await server.start(sock, ssl_ctx)
    try:
        yield server, port, bad
    finally:
        await server.shutdown(1.0)


async def raw(port: int, payload: bytes) -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(payload)
    try:
        return await asyncio.wait_for(r.read(), 5)
    finally:
        w.close()


async def test_keep_alive_pipelining_chunked_and_continue() -> None:
    async with serving() as (server, port, _):
        two = (
            b"POST /a?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"2\r\nde\r\n1\r\nf\r\n0\r\n\r\n"
        )
        out = await raw(port, two)
        assert out.count(b"HTTP/1.1 200 OK") == 2
        assert b"X-Path: /a?q=1" in out and out.endswith(b"def")
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"POST /c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        assert await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
        w.write(b"hi")
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200") and await r.readexactly(2) == b"hi"
        w.close()
        assert not server.connections or len(server.connections) <= 1


async def test_malformed_is_400_and_limits() -> None:
    async with serving(idle_timeout=0.3, max_connections=1) as (_server, port, bad):
        assert (await raw(port, b"GARBAGE\r\n\r\n")).startswith(b"HTTP/1.0 400")
        await asyncio.sleep(0.1)  # the server sees the close: the only slot is free again
        long = b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 9000 + b"\r\n\r\n"
        assert (await raw(port, long)).startswith(b"HTTP/1.0 400")
        assert len(bad) == 2
        await asyncio.sleep(0.1)
        r, w = await asyncio.open_connection("127.0.0.1", port)  # holds the only slot, then is cut when idle
        w.write(b"GET / HTTP/1.1\r\n")
        await asyncio.sleep(0.05)
        assert (await raw(port, b"")).startswith(b"HTTP/1.1 503")
        assert await asyncio.wait_for(r.read(), 2) == b""
        w.close()


async def test_client_pool_reuse_and_bounded_body() -> None:
    async with serving() as (server, port, _):
        client = HTTPClient(timeout=5)
        url = f"http://127.0.0.1:{port}/x"
        for i in range(3):
            resp = await client.request("POST", url, b"body%d" % i, [("Content-Type", "text/plain")])
            assert resp.status == 200 and resp.body == b"body%d" % i and resp.content_type == "application/octet-stream"
            assert resp.headers["x-method"] == "POST"
        assert len(server.connections) == 1  # one keep-alive connection for the three
        resp = await client.request("GET", f"http://127.0.0.1:{port}/big", max_body=1000)
        assert resp.truncated and len(resp.body) == 1000
        assert (await client.request("GET", url)).status == 200  # a new connection after a truncated answer
        await client.close()


async def test_client_retries_once_on_a_dropped_keep_alive_connection() -> None:
    conns = []

    async def answer_then_drop(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        conns.append(w)
        await r.readuntil(b"\r\n\r\n")
        w.write(b"HTTP/1.1 204 No Content\r\n\r\n")  # keep-alive by HTTP/1.1 rules ...
        await w.drain()
        await asyncio.sleep(0.05)
        w.close()  # ... but the server drops it anyway

    srv = await asyncio.start_server(answer_then_drop, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    client = HTTPClient(timeout=5)
    try:
        assert (await client.request("GET", f"http://127.0.0.1:{port}/")).status == 204
        await asyncio.sleep(0.2)
        assert (await client.request("GET", f"http://127.0.0.1:{port}/")).status == 204
        assert len(conns) == 2
    finally:
        await client.close()
        srv.close()
        await srv.wait_closed()


async def test_client_errors_and_timeout() -> None:
    free = listener()
    port = free.getsockname()[1]
    free.close()
    client = HTTPClient(timeout=0.3)
    with pytest.raises(ClientError):
        await client.request("GET", f"http://127.0.0.1:{port}/")
    async with serving() as (_server, sport, _):
        with pytest.raises(TimeoutError):
            await client.request("POST", f"http://127.0.0.1:{sport}/slow")
    await client.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


async def test_tls_both_ways(certs: Certs, tmp_path: Path) -> None:
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(certs.server_cert, certs.server_key)
    async with serving(sctx) as (_server, port, _):
        client = HTTPClient(ssl_context=ssl.create_default_context(cafile=str(certs.ca)), timeout=5)
        resp = await client.request("POST", f"https://localhost:{port}/t", b"secret")
        assert resp.status == 200 and resp.body == b"secret"
        await client.close()
        untrusted = HTTPClient(timeout=5)
        with pytest.raises(ClientError):
            await untrusted.request("POST", f"https://localhost:{port}/t", b"x")
        await untrusted.close()
