"""The admin server under connection pressure: probes keep answering while slow clients hold connections."""

from __future__ import annotations

import asyncio

from edgetel.admin.server import HARD_LIMIT, MAX_CONNECTIONS, AdminServer, Response


async def _get(port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    status = int((await asyncio.wait_for(reader.readline(), 5)).split()[1])
    writer.close()
    await writer.wait_closed()
    return status


async def _ok(_query: str) -> Response:
    return Response(200, b"ok\n")


async def _hold(port: int, n: int) -> list[asyncio.StreamWriter]:
    """`n` connections that send half a request head and then nothing."""
    writers = []
    for _ in range(n):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metrics HTTP/1.1\r\n")
        writers.append(writer)
    await asyncio.sleep(0.2)  # let the server accept them all
    return writers


async def _release(writers: list[asyncio.StreamWriter]) -> None:
    for w in writers:
        w.close()
    await asyncio.sleep(0.2)


async def test_probes_answer_past_the_connection_cap() -> None:
    server = AdminServer()
    for path in ("/healthz", "/readyz", "/metrics"):
        server.route(path, _ok)
    await server.start("127.0.0.1", 0)
    try:
        held = await _hold(server.port, MAX_CONNECTIONS + 10)
        assert await _get(server.port, "/healthz") == 200
        assert await _get(server.port, "/readyz") == 200
        assert await _get(server.port, "/metrics") == 503  # crowded: only probes are served
        await _release(held)
        assert await _get(server.port, "/metrics") == 200
    finally:
        await server.stop()


async def test_hard_limit_answers_503_at_once() -> None:
    server = AdminServer()
    server.route("/healthz", _ok)
    await server.start("127.0.0.1", 0)
    try:
        held = await _hold(server.port, HARD_LIMIT)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        # no request sent: the answer comes without waiting for one
        line = await asyncio.wait_for(reader.readline(), 5)
        assert line.split()[1] == b"503"
        writer.close()
        await _release(held)
        assert await _get(server.port, "/healthz") == 200
    finally:
        await server.stop()
