"""A TCP relay on 127.0.0.1 port 0 that forwards to a target and counts the bytes it carried: shows what went
over the wire (e.g. that gzip was applied) without decoding HTTP/2."""

from __future__ import annotations

import asyncio
import contextlib


class TCPRelay:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.upstream_bytes = 0  # client -> target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> TCPRelay:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        t1 = asyncio.create_task(self._pipe(reader, up_w, count=True))
        t2 = asyncio.create_task(self._pipe(up_r, writer, count=False))
        self._tasks.update((t1, t2))
        t1.add_done_callback(self._tasks.discard)
        t2.add_done_callback(self._tasks.discard)

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter, count: bool) -> None:
        try:
            while data := await r.read(65536):
                if count:
                    self.upstream_bytes += len(data)
                w.write(data)
                await w.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            w.close()
