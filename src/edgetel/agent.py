"""The agent: load -> build the graph -> start -> serve until a signal -> reload or drain and stop."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

from edgetel.admin.server import AdminServer, Response
from edgetel.component.lifecycle import Lifecycle
from edgetel.config import model
from edgetel.config.model import AgentConfig
from edgetel.config.problems import ConfigError
from edgetel.pipeline.exposure import exposures
from edgetel.pipeline.graph import Graph, GraphError
from edgetel.pipeline.sockets import SocketPool, parse_endpoint
from edgetel.systemd_notify import Notifier
from edgetel.telemetry import logging as tlog
from edgetel.telemetry.process import register_process_metrics
from edgetel.telemetry.selfmetrics import Registry

log = logging.getLogger("edgetel.agent")

DEFAULT_CONFIG_NAME = "agent.yaml (built-in default)"


def default_config_text() -> str:
    return resources.files("edgetel").joinpath("default_config/agent.yaml").read_text(encoding="utf-8")


def load_config(path: str | None) -> AgentConfig:
    if path is None:
        return model.load_string(default_config_text(), DEFAULT_CONFIG_NAME)
    return model.load(path)


def warn_exposed(config: AgentConfig) -> None:
    """Warn about the listeners reachable beyond loopback without TLS or authentication (one log line)."""
    found = exposures(config)
    if found:
        log.warning("listeners are reachable beyond loopback without TLS or authentication",
                    extra={"listeners": "; ".join(str(e) for e in found)})  # fmt: skip


class Agent:
    def __init__(self, config: AgentConfig, config_path: str | None) -> None:
        self.config = config
        self.config_path = config_path
        self.metrics = Registry()
        self.sockets = SocketPool()
        self.lifecycle = Lifecycle()
        self.component_states: dict[str, dict[str, Any]] = {}
        self.graph: Graph | None = None
        self.admin = AdminServer()
        self.admin_endpoint: str | None = None
        self.ready = False
        self.draining = False
        self.started = time.monotonic()
        self.notifier = Notifier()
        self.status_extensions: list[Callable[[], dict[str, Any]]] = []
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._sigints = 0
        self._reloads = self.metrics.counter(
            "edgetel_config_reloads_total", "configuration reloads by result", ("result",)
        )
        self._watchdog: asyncio.Task[None] | None = None

    # -- signals ---------------------------------------------------------------------------------
    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        loop.add_signal_handler(signal.SIGHUP, self._reload.set)

    def _on_sigint(self) -> None:
        self._sigints += 1
        if self._sigints > 1:
            log.error("second interrupt: exiting without draining")
            os._exit(130)
        self.request_stop()

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    # -- admin -----------------------------------------------------------------------------------
    def _routes(self) -> None:
        async def healthz(_: str) -> Response:
            return Response(200, b"ok\n")

        async def readyz(_: str) -> Response:
            if self.ready and not self.draining:
                return Response(200, b"ready\n")
            return Response(503, b"draining\n" if self.draining else b"starting\n")

        async def metrics(_: str) -> Response:
            return Response(200, self.metrics.render().encode(), "text/plain; version=0.0.4; charset=utf-8")

        self.admin.route("/healthz", healthz)
        self.admin.route("/readyz", readyz)
        self.admin.route("/metrics", metrics)
        try:
            status = importlib.import_module("edgetel.admin.status")
        except ImportError:  # the status page is optional in this build
            return
        status.install(self)

    async def _apply_admin(self) -> None:
        admin = self.config.service.admin
        wanted = admin.endpoint if admin.enabled else None
        if wanted == self.admin_endpoint:
            return
        await self.admin.stop()
        self.admin_endpoint = None
        if wanted is not None:
            host, port = parse_endpoint(wanted)
            await self.admin.start(host, port)
            self.admin_endpoint = wanted
            log.info("admin endpoint listening", extra={"endpoint": f"{host}:{self.admin.port}"})

    # -- run -------------------------------------------------------------------------------------
    async def run(self) -> int:
        self._install_signals()
        register_process_metrics(self.metrics, self.started)
        self._routes()
        for w in self.config.warnings:
            log.warning("configuration warning", extra={"detail": w})
        warn_exposed(self.config)
        try:
            await self._apply_admin()
        except OSError as e:
            log.error("cannot listen on the admin endpoint", extra={"endpoint": self.config.service.admin.endpoint,
                                                                     "error": str(e)})  # fmt: skip
            return 1
        try:
            self.sockets.begin_generation()
            self.graph = Graph(self.config, self.metrics, self.sockets, self.lifecycle, self.component_states)
            await self.graph.start_backend()
            await self.graph.start_receivers()
            self.sockets.end_generation()
        except (GraphError, OSError, ValueError) as e:
            log.error("the agent could not start", extra={"error": str(e)})
            await self._drain()
            await self.admin.stop()
            self.sockets.close_all()
            return 1
        self.ready = True
        log.info("edgetel started", extra={"pipelines": ", ".join(str(p) for p in self.config.pipelines),
                                           "config": self.config.source})  # fmt: skip
        self.notifier.notify("READY=1", f"STATUS={self.status_line()}")
        if self.notifier.watchdog_interval:
            self._watchdog = asyncio.create_task(self._watchdog_loop(self.notifier.watchdog_interval))
        while not self._stop.is_set():
            stop = asyncio.ensure_future(self._stop.wait())
            reload = asyncio.ensure_future(self._reload.wait())
            await asyncio.wait([stop, reload], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            reload.cancel()
            if self._reload.is_set() and not self._stop.is_set():
                self._reload.clear()
                await self.reload()
        await self.shutdown()
        return 0

    def status_line(self) -> str:
        n = len(self.config.pipelines)
        return f"{n} pipeline{'s' if n != 1 else ''} running; admin on {self.admin_endpoint or 'off'}"

    async def _watchdog_loop(self, interval: float) -> None:
        while True:
            self.notifier.notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def reload(self) -> bool:
        """Load the configuration again and swap it in; on any error keep the running one."""
        self.notifier.notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
        try:
            return await self._reload_once()
        finally:
            self.notifier.notify("READY=1", f"STATUS={self.status_line()}")

    async def _reload_once(self) -> bool:
        log.info("reloading the configuration", extra={"config": self.config_path or DEFAULT_CONFIG_NAME})
        try:
            new_config = await asyncio.to_thread(load_config, self.config_path)
        except ConfigError as e:
            self._reloads.labels("invalid").inc()
            log.error("the new configuration is invalid; keeping the running one",
                      extra={"errors": "; ".join(e.lines)})  # fmt: skip
            return False
        old = self.graph
        assert old is not None
        self.sockets.begin_generation()
        try:
            new = Graph(new_config, self.metrics, self.sockets, self.lifecycle, self.component_states, previous=old)
            await new.start_backend()
            await new.start_receivers()
        except (GraphError, OSError, ValueError) as e:
            self._reloads.labels("failed").inc()
            log.error("the new configuration failed to start; keeping the running one", extra={"error": str(e)})
            with contextlib.suppress(Exception):
                if "new" in locals():
                    await new.stop_receivers()
                    await new.stop_backend(keep=old.exporters)
            self.sockets.begin_generation()
            for key in self.sockets:  # every existing socket stays: the old graph still uses them
                self.sockets._claimed.add(key)
            return False
        self.graph = new
        await old.stop_receivers()
        await old.stop_backend(keep=new.exporters)
        self.sockets.end_generation()
        self.config = new_config
        tlog.setup(new_config.service.logs.level, new_config.service.logs.format)
        try:
            await self._apply_admin()
        except OSError as e:
            log.error("cannot listen on the new admin endpoint", extra={"error": str(e)})
        self._reloads.labels("ok").inc()
        for w in new_config.warnings:
            log.warning("configuration warning", extra={"detail": w})
        warn_exposed(new_config)
        log.info("configuration reloaded")
        return True

    async def shutdown(self) -> None:
        self.draining = True
        self.notifier.notify("STOPPING=1")
        timeout = float(self.config.service.shutdown_timeout)
        self.lifecycle.deadline = time.monotonic() + timeout
        log.info("draining and stopping", extra={"timeout_s": timeout})
        try:
            await asyncio.wait_for(self._drain(), timeout + 2.0)
        except TimeoutError:
            log.error("shutdown timed out; exiting with data still in flight")
        if self._watchdog is not None:
            self._watchdog.cancel()
        await self.admin.stop()
        self.sockets.close_all()
        log.info("edgetel stopped")

    async def _drain(self) -> None:
        if self.graph is not None:
            await self.graph.stop_receivers()
            await self.graph.stop_backend()


def run(config_path: str | None) -> int:
    """Entry point of `edgetel run`: returns the process exit code."""
    try:
        config = load_config(config_path)
    except ConfigError as e:
        tlog.setup("info", "auto")
        for line in e.lines:
            log.error("invalid configuration", extra={"problem": line})
        return 2
    tlog.setup(config.service.logs.level, config.service.logs.format)

    async def main() -> int:
        return await Agent(config, config_path).run()

    return asyncio.run(main())
