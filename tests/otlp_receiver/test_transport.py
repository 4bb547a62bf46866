"""TLS, mTLS, Unix sockets, connection limits, slow clients, and listeners kept across a reload."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from edgetel.pipeline.sockets import SocketPool
from tests.helpers import make_traces
from tests.otlp_receiver.certs import Certs, make_certs
from tests.otlp_receiver.conftest import make_ctx, running
from tests.otlp_receiver.test_grpc import TRACES, call, fails

PB = {"Content-Type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def tls_cfg(certs: Certs, mtls: bool) -> dict[str, str]:
    cfg = {"cert_file": str(certs.server_cert), "key_file": str(certs.server_key)}
    if mtls:
        cfg["client_ca_file"] = str(certs.ca)
    return cfg


def client_ssl(certs: Certs, with_cert: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    if with_cert:
        ctx.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    return ctx


async def grpc_tls_call(port: int, certs: Certs, with_cert: bool) -> bytes:
    creds = grpc.ssl_channel_credentials(
        root_certificates=certs.ca.read_bytes(),
        private_key=certs.client_key.read_bytes() if with_cert else None,
        certificate_chain=certs.client_cert.read_bytes() if with_cert else None,
    )
    async with grpc.aio.secure_channel(f"localhost:{port}", creds) as ch:
        out: bytes = await ch.unary_unary(TRACES)(make_traces().serialize(), timeout=5)
        return out


async def https_post(port: int, ctx: ssl.SSLContext) -> int:
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"https://localhost:{port}/v1/traces", data=make_traces().serialize(), headers=PB, ssl=ctx) as r,
    ):
        return r.status


@pytest.mark.parametrize("mtls", [False, True])
async def test_tls(certs: Certs, mtls: bool) -> None:
    tls = tls_cfg(certs, mtls)
    raw = {
        "protocols": {"grpc": {"endpoint": "127.0.0.1:0", "tls": tls}, "http": {"endpoint": "127.0.0.1:0", "tls": tls}}
    }
    async with running(raw) as rx:
        assert rx.receiver.grpc is not None and rx.receiver.http is not None
        gport, hport = rx.receiver.grpc.port, rx.receiver.http.port
        assert await grpc_tls_call(gport, certs, with_cert=True) == b""
        assert await https_post(hport, client_ssl(certs, with_cert=True)) == 200
        if mtls:  # no client certificate: the handshake fails
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await grpc_tls_call(gport, certs, with_cert=False)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
                await https_post(hport, client_ssl(certs, with_cert=False))
        else:
            assert await https_post(hport, client_ssl(certs, with_cert=False)) == 200
        # plain text on a TLS port goes nowhere
        await fails(f"127.0.0.1:{gport}", TRACES, make_traces().serialize())
        # and the good ones still go through
        assert await grpc_tls_call(gport, certs, with_cert=True) == b""
        assert await https_post(hport, client_ssl(certs, with_cert=True)) == 200
        assert rx.traces.items() == (4 if mtls else 5) * 3


async def test_unix_sockets(tmp_path: Path) -> None:
    gpath, hpath = tmp_path / "run" / "g.sock", tmp_path / "run" / "h.sock"
    raw = {"protocols": {"grpc": {"endpoint": f"unix://{gpath}"}, "http": {"endpoint": f"unix://{hpath}"}}}
    async with running(raw) as rx:
        assert await call(f"unix://{gpath}", TRACES, make_traces(spans=2).serialize()) == b""
        conn = aiohttp.UnixConnector(path=str(hpath))
        async with (
            aiohttp.ClientSession(connector=conn) as s,
            s.post("http://sidecar/v1/traces", data=make_traces(spans=3).serialize(), headers=PB) as r,
        ):
            assert r.status == 200
        assert rx.traces.items() == 5
        assert oct(os.stat(hpath).st_mode & 0o777) == "0o660"
        assert oct(os.stat(gpath).st_mode & 0o777) == "0o660"
    assert not gpath.exists() and not hpath.exists()


async def test_slow_loris_is_cut_and_connections_are_capped() -> None:
    raw = {"protocols": {"http": {"endpoint": "127.0.0.1:0", "idle_timeout": "0.5s", "max_connections": 2}}}
    async with running(raw) as rx:
        assert rx.receiver.http is not None
        port = rx.receiver.http.port
        slow = []
        for _ in range(2):  # two clients dribbling a header, one line at a time
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")
            slow.append((r, w))
        await asyncio.sleep(0.1)
        # the cap: a third connection is answered 503 and closed
        r3, w3 = await asyncio.open_connection("127.0.0.1", port)
        head = await asyncio.wait_for(r3.read(), 2)
        assert head.startswith(b"HTTP/1.1 503")
        w3.close()
        assert rx.metric("edgetel_receiver_refused_connections_total", "otlp", "http") == 1

        async def dribble(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bytes:
            for i in range(40):  # keeps sending, never finishes the header: cut after idle_timeout
                if r.at_eof():
                    break
                try:
                    w.write(b"X-Slow-%d: y\r\n" % i)
                    await w.drain()
                except ConnectionError:
                    break
                await asyncio.sleep(0.1)
            return await asyncio.wait_for(r.read(), 2)

        start = asyncio.get_running_loop().time()
        await asyncio.gather(*(dribble(r, w) for r, w in slow))
        assert asyncio.get_running_loop().time() - start < 3.0
        for _, w in slow:
            w.close()
        await asyncio.sleep(0.05)
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{rx.http_url}/v1/traces", data=make_traces().serialize(), headers=PB) as resp,
        ):
            assert resp.status == 200


async def test_body_read_timeout() -> None:
    raw = {"protocols": {"http": {"endpoint": "127.0.0.1:0", "read_timeout": "0.3s"}}}
    async with running(raw) as rx:
        assert rx.receiver.http is not None
        r, w = await asyncio.open_connection("127.0.0.1", rx.receiver.http.port)
        w.write(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                b"Content-Length: 1000\r\n\r\nabc")  # fmt: skip
        head = await asyncio.wait_for(r.read(), 5)  # answered after 0.3 s, closed at most 2 s later
        assert head.startswith(b"HTTP/1.1 408")
        w.close()
        assert rx.metric("edgetel_receiver_malformed_requests_total", "otlp", "http", "timeout") == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_listeners_survive_a_reload() -> None:
    """During a reload the new receiver starts before the old one stops, on the same ports."""
    pool = SocketPool()
    gport, hport = free_port(), free_port()
    raw: dict[str, Any] = {
        "protocols": {"grpc": {"endpoint": f"127.0.0.1:{gport}"}, "http": {"endpoint": f"127.0.0.1:{hport}"}}
    }
    async with running(raw, make_ctx(pool)) as old:
        assert await call(f"127.0.0.1:{gport}", TRACES, make_traces(spans=1).serialize()) == b""
        # the agent's reload: claim again, start the new receiver while the old one listens, stop the old one.
        # Both are bound at once: gRPC through SO_REUSEPORT, HTTP through the socket pool.
        pool.begin_generation()
        new_cm = running(raw, make_ctx(pool))
        new = await new_cm.__aenter__()
        try:
            await old.receiver.shutdown()
            pool.end_generation()
            assert ("tcp", "127.0.0.1", hport) in set(pool)
            assert await call(f"127.0.0.1:{gport}", TRACES, make_traces(spans=2).serialize()) == b""
            async with (
                aiohttp.ClientSession() as s,
                s.post(f"http://127.0.0.1:{hport}/v1/traces", data=make_traces(spans=3).serialize(), headers=PB) as r,
            ):
                assert r.status == 200
            assert new.traces.items() == 5 and old.traces.items() == 1
        finally:
            await new_cm.__aexit__(None, None, None)


async def test_grpc_unix_socket_survives_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "otlp.sock"
    raw = {"protocols": {"grpc": {"endpoint": f"unix://{path}"}}}
    async with running(raw) as old, running(raw) as new:
        await old.receiver.shutdown()
        assert await call(f"unix://{path}", TRACES, make_traces(spans=2).serialize()) == b""
        assert new.traces.items() == 2
        assert path.exists()
    assert not path.exists()


async def test_grpc_refuses_a_port_another_program_listens_on() -> None:
    """grpc's SO_REUSEPORT would silently share the port with another SO_REUSEPORT listener: a probe stops it."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(OSError, match="cannot listen for gRPC"):
            async with running({"protocols": {"grpc": {"endpoint": f"127.0.0.1:{port}"}}}):
                pass
