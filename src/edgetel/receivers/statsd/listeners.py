"""StatsD listeners: UDP and Unix datagram sockets read in bursts, and newline-delimited TCP.

Datagram listeners do not use asyncio's DatagramProtocol (one callback and one bytes object per packet):
a reader callback reads straight into a staging buffer until the socket is empty (or a burst limit, so other
tasks run), packets back to back, newline separated. A full buffer is handed to the aggregator as one blob.
On Linux the compiled `recv_burst` reads up to 64 datagrams per recvmmsg(2) call; the `recv_into` loop below
is the reference, used elsewhere or with `EDGETEL_STATSD_PYTHON=1`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable

from edgetel._native import load
from edgetel.telemetry.selfmetrics import Child, Registry

STAGE_SIZE = 1 << 20
BURST = 2048  # packets per reader callback at most
_native = load("statsd")
RecvBurst = Callable[[int, bytearray, int, int, int], tuple[int, int, int, int]]


class Stage:
    """Lines of one transport waiting for the aggregator, newline separated."""

    def __init__(self, sink: Callable[[bytes], None], size: int) -> None:
        self.sink = sink
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.off = 0

    def drain(self) -> None:
        if self.off:
            data = bytes(self.mv[: self.off])
            self.off = 0
            self.sink(data)

    def add(self, data: bytes) -> None:
        n = len(data)
        if self.off + n + 1 > len(self.buf):
            self.drain()
            if n + 1 > len(self.buf):
                self.sink(data)
                return
        off = self.off
        self.mv[off : off + n] = data
        self.buf[off + n] = 10
        self.off = off + n + 1

    def close(self) -> None:
        self.drain()


def _counters(registry: Registry, receiver: str, transport: str) -> tuple[Child, Child, Child]:
    labels = (receiver, transport)
    return (
        registry.counter(
            "edgetel_statsd_packets_received_total", "StatsD datagrams / TCP reads received", ("receiver", "transport")
        ).labels(*labels),
        registry.counter(
            "edgetel_statsd_oversized_packets_total",
            "datagrams longer than max_packet_size or TCP lines longer than tcp_max_line_length, dropped",
            ("receiver", "transport"),
        ).labels(*labels),
        registry.counter(
            "edgetel_statsd_receive_errors_total", "socket errors while receiving", ("receiver", "transport")
        ).labels(*labels),
    )


class DatagramListener:
    """UDP or Unix datagram socket; `sock` is the listener's own dup of the pooled socket."""

    def __init__(
        self,
        sock: socket.socket,
        sink: Callable[[bytes], None],
        max_packet: int,
        registry: Registry,
        receiver: str,
        transport: str,
        logger: logging.Logger,
    ) -> None:
        self.sock = sock
        self.transport = transport
        self.max_packet = max_packet
        self.stage = Stage(sink, max(STAGE_SIZE, 4 * (max_packet + 1)))
        self.logger = logger
        self._packets, self._oversized, self._errors = _counters(registry, receiver, transport)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.coalesce = 0.0
        self._paused: asyncio.TimerHandle | None = None
        native = _native is not None and os.environ.get("EDGETEL_STATSD_PYTHON") != "1"
        self._recv_burst = getattr(_native, "recv_burst", None) if native else None

    def start(self, coalesce: float = 0.0) -> None:
        """`coalesce`: after emptying the socket, wait this long before watching it again, so that one wake-up
        reads many packets (only with a receive buffer large enough to hold them meanwhile)."""
        self._loop = asyncio.get_running_loop()
        self.coalesce = coalesce
        self.sock.setblocking(False)
        self._loop.add_reader(self.sock.fileno(), self._readable)

    def _resume(self) -> None:
        self._paused = None
        if self._loop is not None and self.sock.fileno() >= 0:
            self._loop.add_reader(self.sock.fileno(), self._readable)
            self._readable()

    def _readable(self) -> None:
        if self._recv_burst is not None:
            self._readable_native(self._recv_burst)
            return
        recv_into = self.sock.recv_into
        stage = self.stage
        mv, buf = stage.mv, stage.buf
        off = stage.off
        high = len(buf) - self.max_packet - 1  # room for one more packet and its newline
        maxp = self.max_packet
        packets = oversized = 0
        for _ in range(BURST):
            if off > high:
                stage.off = off
                stage.drain()
                off = 0
            try:
                # MSG_TRUNC makes Linux return a datagram's real length even when it did not fit.
                n = recv_into(mv[off:], 0, socket.MSG_TRUNC)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:
                self._errors.inc()
                self.logger.warning("statsd receive error", extra={"transport": self.transport, "error": str(e)})
                break
            if n > maxp:
                oversized += 1
                continue
            off += n
            buf[off] = 10
            off += 1
            packets += 1
        stage.off = off
        self._account(packets, oversized)

    def _readable_native(self, recv_burst: RecvBurst) -> None:
        stage = self.stage
        fd = self.sock.fileno()
        budget = BURST
        packets = oversized = 0
        while True:
            stage.off, p, o, status = recv_burst(fd, stage.buf, stage.off, self.max_packet, budget)
            packets += p
            oversized += o
            budget -= p + o
            if status == 1 and stage.off:  # no room for one more datagram
                stage.drain()
                continue
            if status < 0:
                self._errors.inc()
                error = os.strerror(-status)
                self.logger.warning("statsd receive error", extra={"transport": self.transport, "error": error})
            break
        self._account(packets, oversized)

    def _account(self, packets: int, oversized: int) -> None:
        if packets:
            self._packets.inc(packets)
            if self.coalesce and packets < BURST and self._loop is not None and self._paused is None:
                self._loop.remove_reader(self.sock.fileno())
                self._paused = self._loop.call_later(self.coalesce, self._resume)
        if oversized:
            self._oversized.inc(oversized)

    def drain(self) -> None:
        self.stage.drain()

    def close(self) -> None:
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.sock.fileno())
        self._readable_final()
        self.stage.close()
        self.sock.close()

    def _readable_final(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._readable()


class _TcpConnection(asyncio.Protocol):
    def __init__(self, owner: TcpListener) -> None:
        self.owner = owner
        self.partial = b""
        self.discarding = False
        self.last_active = time.monotonic()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if len(self.owner.connections) >= self.owner.max_connections:
            self.owner.refused.inc()
            transport.abort()
            return
        self.owner.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.connections.discard(self)
        if self.partial and not self.discarding:
            self.owner.stage.add(self.partial)  # a last line without its newline
        self.partial = b""

    def data_received(self, data: bytes) -> None:
        owner = self.owner
        self.last_active = time.monotonic()
        owner.packets.inc()
        if self.discarding:
            nl = data.find(b"\n")
            if nl < 0:
                return
            self.discarding = False
            data = data[nl + 1 :]
        if self.partial:
            data = self.partial + data
        nl = data.rfind(b"\n")
        if nl < 0:
            self.partial = data
        else:
            complete = data[:nl]
            if nl > owner.max_line:  # only then can a line inside be too long
                lines = complete.split(b"\n")
                if max(map(len, lines)) > owner.max_line:
                    kept = [line for line in lines if len(line) <= owner.max_line]
                    owner.oversized.inc(len(lines) - len(kept))
                    complete = b"\n".join(kept)
            owner.stage.add(complete)
            self.partial = data[nl + 1 :]
        if len(self.partial) > owner.max_line:
            owner.oversized.inc()
            self.partial = b""
            self.discarding = True


class TcpListener:
    """Newline-delimited StatsD over TCP with a connection limit, an idle timeout and bounded lines."""

    def __init__(
        self,
        sock: socket.socket,
        sink: Callable[[bytes], None],
        max_line: int,
        max_connections: int,
        idle_timeout: float,
        registry: Registry,
        receiver: str,
    ) -> None:
        self.sock = sock
        self.stage = Stage(sink, STAGE_SIZE)
        self.max_line = max_line
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.connections: set[_TcpConnection] = set()
        self.packets, self.oversized, _ = _counters(registry, receiver, "tcp")
        self.refused = registry.counter(
            "edgetel_statsd_tcp_connections_refused_total",
            "TCP connections closed at once because tcp_max_connections were open",
            ("receiver",),
        ).labels(receiver)
        self._server: asyncio.Server | None = None
        self._reaper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _TcpConnection(self), sock=self.sock)
        if self.idle_timeout > 0:
            self._reaper = asyncio.create_task(self._reap())

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, self.idle_timeout / 4))
            cutoff = time.monotonic() - self.idle_timeout
            for conn in [c for c in self.connections if c.last_active < cutoff]:
                if conn.transport is not None:
                    conn.transport.close()

    def drain(self) -> None:
        self.stage.drain()

    def adopt(self, other: TcpListener) -> None:
        """Take over the open connections of `other` (a reload): closing them would lose what clients send."""
        for conn in list(other.connections):
            other.connections.discard(conn)
            conn.owner = self
            self.connections.add(conn)

    async def stop_accepting(self) -> None:
        """Stop taking new connections. asyncio sets up a connection it has just accepted a few loop turns
        later and drops it (the client's first lines are lost) if the server is closed by then: let them in first."""
        if self._server is not None and self._server.is_serving():
            loop = asyncio.get_running_loop()
            for sock in self._server.sockets:
                loop.remove_reader(sock.fileno())
            for _ in range(5):
                await asyncio.sleep(0)

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        if self._server is not None:
            await self.stop_accepting()
            self._server.close()
            for conn in list(self.connections):
                if conn.transport is not None:
                    conn.transport.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        self.stage.close()
