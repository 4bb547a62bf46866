"""The `statsd` receiver: listeners feed a shared aggregator; a timer flushes it once per interval."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Mapping

from edgetel.component.errors import PermanentError, RetryableError
from edgetel.component.factory import CreateContext
from edgetel.component.ids import Signal
from edgetel.component.protocols import Consumer
from edgetel.pipeline.sockets import parse_endpoint
from edgetel.receivers.statsd.aggregator import Aggregator
from edgetel.receivers.statsd.config import StatsdConfig
from edgetel.receivers.statsd.listeners import DatagramListener, TcpListener
from edgetel.telemetry.components import ReceiverMetrics

COALESCE_MAX = 0.05  # seconds between reads of a busy UDP socket, at most: each wake-up costs CPU
COALESCE_RATE = 400e6  # bytes/s of receive buffer (kernel accounting) a heavy load fills: ~400k datagrams/s


class StatsdReceiver:
    def __init__(self, ctx: CreateContext, cfg: StatsdConfig, consumers: Mapping[Signal, Consumer]) -> None:
        self.ctx = ctx
        self.cfg = cfg
        self.consumer = consumers[Signal.METRICS]
        self.name = str(ctx.id)
        self.logger = ctx.logger
        self.metrics = ReceiverMetrics(ctx.metrics, self.name, "statsd")
        self.datagram: list[DatagramListener] = []
        self.tcp: TcpListener | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._rcvbuf = ctx.metrics.gauge(
            "edgetel_statsd_socket_rcvbuf_bytes",
            "receive buffer the kernel granted to the StatsD socket",
            ("receiver", "transport"),
        )
        agg = ctx.state.get("aggregator")
        if not isinstance(agg, Aggregator):  # kept across reloads: counters stay cumulative
            agg = ctx.state["aggregator"] = Aggregator(ctx.metrics, self.name, ctx.logger)
            ctx.state["owners"] = set()
        self.agg = agg
        self.owners: set[int] = ctx.state["owners"]

    async def start(self) -> None:
        self.agg.configure(self.cfg)
        self.owners.add(id(self))
        self._started = True
        cfg = self.cfg
        maxp = int(cfg.max_packet_size)
        if cfg.endpoint:
            host, port = parse_endpoint(cfg.endpoint, 8125)
            pooled = self.ctx.sockets.udp(host, port, int(cfg.rcvbuf))
            granted = self._grow_rcvbuf(pooled, "udp")
            # Coalesce wake-ups for as long as the kernel buffer holds a heavy load, when it is large (Unix
            # sockets never: Linux queues only net.unix.max_dgram_qlen datagrams on them).
            coalesce = min(COALESCE_MAX, granted / COALESCE_RATE) if granted >= 4 << 20 else 0.0
            self._add_datagram(pooled.dup(), "udp", maxp, coalesce)
        if cfg.unix_socket:
            pooled = self.ctx.sockets.unix(cfg.unix_socket, socket.SOCK_DGRAM, cfg.permissions(), int(cfg.rcvbuf))
            self._grow_rcvbuf(pooled, "unix")
            self._add_datagram(pooled.dup(), "unix", maxp, 0.0)
        if cfg.tcp_endpoint:
            host, port = parse_endpoint(cfg.tcp_endpoint, 8125)
            pooled = self.ctx.sockets.tcp(host, port)
            self.tcp = TcpListener(
                pooled.dup(),
                self._sink("tcp"),
                int(cfg.tcp_max_line_length),
                cfg.tcp_max_connections,
                float(cfg.tcp_idle_timeout),
                self.ctx.metrics,
                self.name,
            )
            await self.tcp.start()
            self.ctx.state.setdefault("tcp_listeners", []).append(self.tcp)
        self._task = asyncio.create_task(self._run(), name=f"{self.name} flush")

    def _sink(self, transport: str) -> Callable[[bytes], None]:
        digest = self.agg.digest
        return lambda blob: digest(blob, transport)

    def _add_datagram(self, sock: socket.socket, transport: str, maxp: int, coalesce: float) -> None:
        listener = DatagramListener(
            sock, self._sink(transport), maxp, self.ctx.metrics, self.name, transport, self.logger
        )
        listener.start(coalesce)
        self.datagram.append(listener)

    def _grow_rcvbuf(self, sock: socket.socket, transport: str) -> int:
        """Ask for `rcvbuf` (beyond net.core.rmem_max too, when privileged) and report what was granted."""
        want = int(self.cfg.rcvbuf)
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        if want and granted < want:
            force = getattr(socket, "SO_RCVBUFFORCE", 33)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, force, want)
            granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self._rcvbuf.labels(self.name, transport).set(granted)
        # Linux reports double the usable size; a grant below the request means net.core.rmem_max is lower.
        if want and granted < want:
            self.logger.info(
                "statsd socket receive buffer smaller than requested (raise net.core.rmem_max)",
                extra={"receiver": self.name, "transport": transport, "requested": want, "granted": granted},
            )
        return int(granted)

    async def _run(self) -> None:
        interval = float(self.cfg.aggregation_interval)
        while True:
            # Flush on multiples of the interval (wall clock), so a reloaded receiver keeps the rhythm.
            await asyncio.sleep(interval - (time.time() % interval))
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.logger.exception("statsd flush failed", extra={"receiver": self.name})

    def drain(self) -> None:
        for listener in self.datagram:
            listener.drain()
        if self.tcp is not None:
            self.tcp.drain()

    async def flush(self, force: bool = False) -> None:
        self.drain()
        batch = self.agg.flush(force=force)
        if batch is None:
            return
        n = batch.item_count()
        if not n:
            return
        try:
            await self.consumer.consume(batch)
        except RetryableError as e:
            # The cumulative state is kept: the next flush carries correct totals again.
            self.metrics.refused("metric_points", n)
            self.logger.warning("statsd flush refused downstream", extra={"receiver": self.name, "error": str(e)})
        except PermanentError as e:
            self.metrics.refused("metric_points", n)
            self.logger.error("statsd flush rejected downstream", extra={"receiver": self.name, "error": str(e)})
        else:
            self.metrics.accepted("metric_points", n)

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for listener in self.datagram:
            listener.close()
        self.datagram = []
        if self.tcp is not None:
            live: list[TcpListener] = self.ctx.state.get("tcp_listeners", [])
            if self.tcp in live:
                live.remove(self.tcp)
            if live:  # a reload: the other instance keeps the clients' connections open
                await self.tcp.stop_accepting()
                live[-1].adopt(self.tcp)
            await self.tcp.close()
            self.tcp = None
        if not self._started:
            return
        self._started = False
        self.owners.discard(id(self))
        if not self.owners:  # the last instance (not a reload): flush what is held, once
            try:
                await asyncio.wait_for(self.flush(force=True), max(0.5, self.ctx.lifecycle.remaining(5.0)))
            except Exception:
                self.logger.exception("statsd final flush failed", extra={"receiver": self.name})
