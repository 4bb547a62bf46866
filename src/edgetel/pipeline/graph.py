"""Builds the running components from an `AgentConfig`, and starts and stops them in order.

One instance per receiver id, per exporter id and per connector id (shared by every pipeline that names it);
one processor instance per pipeline and processor id. Exporters start first and stop last; on a reload,
exporters whose settings did not change are carried over to the new graph as they are, queue and all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from edgetel.component.factory import CreateContext
from edgetel.component.ids import ComponentID, Kind, PipelineID, Signal
from edgetel.component.lifecycle import Lifecycle
from edgetel.component.protocols import Component, Consumer
from edgetel.config.model import AgentConfig, ComponentConfig, same_settings
from edgetel.pipeline.fanout import Chain, Fanout
from edgetel.pipeline.sockets import SocketPool
from edgetel.telemetry.selfmetrics import Registry

log = logging.getLogger("edgetel.pipeline")


class GraphError(Exception):
    pass


class Graph:
    def __init__(
        self,
        config: AgentConfig,
        metrics: Registry,
        sockets: SocketPool,
        lifecycle: Lifecycle,
        states: dict[str, dict[str, Any]],
        previous: Graph | None = None,
    ) -> None:
        self.config = config
        self._metrics = metrics
        self._sockets = sockets
        self._lifecycle = lifecycle
        self._states = states
        self.exporters: dict[ComponentID, Component] = {}
        self.connectors: dict[ComponentID, Component] = {}
        self.processors: list[tuple[PipelineID, ComponentID, Component]] = []
        self.receivers: dict[ComponentID, Component] = {}
        self.carried: set[ComponentID] = set()
        self._entries: dict[PipelineID, Chain] = {}
        self._building: set[PipelineID] = set()
        self.states: dict[str, str] = {}  # component label -> created/started/stopped/failed
        self._build(previous)

    # -- building ---------------------------------------------------------------------------------
    def _ctx(self, comp: ComponentConfig, pipeline: PipelineID | None = None) -> CreateContext:
        key = f"{comp.kind}/{comp.id}"
        return CreateContext(
            id=comp.id,
            kind=comp.kind,
            logger=logging.getLogger(f"edgetel.{comp.kind}.{comp.id}"),
            metrics=self._metrics,
            sockets=self._sockets,
            lifecycle=self._lifecycle,
            pipeline=pipeline,
            state=self._states.setdefault(key, {}),
        )

    def _build(self, previous: Graph | None) -> None:
        cfg = self.config
        used_exporters = {e for p in cfg.pipelines.values() for e in p.exporters}
        for cid in sorted(used_exporters):
            comp = cfg.components[Kind.EXPORTER].get(cid)
            if comp is None:
                continue  # a connector
            old = previous.exporters.get(cid) if previous else None
            if old is not None and previous is not None and same_settings(
                previous.config.components[Kind.EXPORTER][cid].config, comp.config
            ):
                self.exporters[cid] = old
                self.carried.add(cid)
                self.states[f"exporter/{cid}"] = "started"
                continue
            self.exporters[cid] = comp.factory.create(self._ctx(comp), comp.config)
            self.states[f"exporter/{cid}"] = "created"
        for pid in cfg.pipelines:
            self._entry(pid)
        for cid, comp in cfg.components[Kind.RECEIVER].items():
            consumers = self._consumers_for(cid)
            if not consumers:
                continue
            self.receivers[cid] = comp.factory.create(self._ctx(comp), comp.config, consumers)
            self.states[f"receiver/{cid}"] = "created"

    def _consumers_for(self, cid: ComponentID) -> dict[Signal, Consumer]:
        by_signal: dict[Signal, list[Consumer]] = {}
        for pid, p in self.config.pipelines.items():
            if cid in p.receivers:
                by_signal.setdefault(pid.signal, []).append(self._entry(pid))
        return {s: (cs[0] if len(cs) == 1 else Fanout(cs)) for s, cs in by_signal.items()}

    def _entry(self, pid: PipelineID) -> Chain:
        entry = self._entries.get(pid)
        if entry is not None:
            return entry
        if pid in self._building:
            raise GraphError(f"pipelines form a cycle through connectors at {pid}")
        self._building.add(pid)
        p = self.config.pipelines[pid]
        outs: list[Consumer] = []
        for cid in p.exporters:
            if cid in self.exporters:
                outs.append(self._as_consumer(self.exporters[cid]))
            else:
                outs.append(self._as_consumer(self._connector(cid)))
        nxt: Consumer = outs[0] if len(outs) == 1 else Fanout(outs)
        mutates = False
        chain: list[tuple[ComponentID, Component]] = []
        for cid in reversed(p.processors):
            comp = self.config.components[Kind.PROCESSOR][cid]
            proc = comp.factory.create(self._ctx(comp, pid), comp.config, nxt)
            chain.append((cid, proc))
            nxt = self._as_consumer(proc)
            mutates = mutates or bool(getattr(proc, "mutates", False))
            self.states[f"processor/{pid}/{cid}"] = "created"
        for cid, proc in reversed(chain):
            self.processors.append((pid, cid, proc))
        entry = self._entries[pid] = Chain(nxt, mutates)
        self._building.discard(pid)
        return entry

    def _connector(self, cid: ComponentID) -> Component:
        conn = self.connectors.get(cid)
        if conn is None:
            comp = self.config.components[Kind.CONNECTOR][cid]
            conn = comp.factory.create(self._ctx(comp), comp.config, self._consumers_for(cid))
            self.connectors[cid] = conn
            self.states[f"connector/{cid}"] = "created"
        return conn

    @staticmethod
    def _as_consumer(comp: Component) -> Consumer:
        if not hasattr(comp, "consume"):
            raise GraphError(f"{comp!r} cannot consume data")
        return comp  # type: ignore[return-value]

    # -- lifecycle --------------------------------------------------------------------------------
    async def start_backend(self) -> None:
        """Start exporters, connectors and processors (everything that does not take data in)."""
        for cid, exp in self.exporters.items():
            if cid not in self.carried:
                await self._start(f"exporter/{cid}", exp)
        for cid, conn in self.connectors.items():
            await self._start(f"connector/{cid}", conn)
        for pid, cid, proc in reversed(self.processors):
            await self._start(f"processor/{pid}/{cid}", proc)

    async def start_receivers(self) -> None:
        for cid, rcv in self.receivers.items():
            await self._start(f"receiver/{cid}", rcv)

    async def _start(self, label: str, comp: Component) -> None:
        try:
            await comp.start()
        except Exception as e:
            self.states[label] = "failed"
            raise GraphError(f"{label} failed to start: {e}") from e
        self.states[label] = "started"

    async def stop_receivers(self) -> None:
        await self._stop_all([(f"receiver/{cid}", r) for cid, r in self.receivers.items()])

    async def stop_backend(self, keep: Mapping[ComponentID, Component] | None = None) -> None:
        """Stop in data-flow order, so that every final flush still finds its consumer running: a pipeline's
        processors (first to last) once everything feeding it has stopped, a connector once every pipeline
        feeding it has stopped; exporters (except those in `keep`) last."""
        pipelines = self.config.pipelines
        feeds: dict[ComponentID, set[PipelineID]] = {
            cid: {pid for pid, p in pipelines.items() if cid in p.exporters} for cid in self.connectors
        }
        stopped_pipes: set[PipelineID] = set()
        stopped_conns: set[ComponentID] = set()
        while len(stopped_pipes) < len(pipelines) or len(stopped_conns) < len(self.connectors):
            progressed = False
            for pid, p in pipelines.items():
                upstream = {c for c in p.receivers if c in self.connectors}
                if pid not in stopped_pipes and upstream <= stopped_conns:
                    for ppid, cid, proc in self.processors:
                        if ppid == pid:
                            await self._stop_all([(f"processor/{pid}/{cid}", proc)])
                    stopped_pipes.add(pid)
                    progressed = True
            for cid, conn in self.connectors.items():
                if cid not in stopped_conns and feeds[cid] <= stopped_pipes:
                    await self._stop_all([(f"connector/{cid}", conn)])
                    stopped_conns.add(cid)
                    progressed = True
            if not progressed:  # cannot happen for a valid (acyclic) graph; stop the rest anyway
                break
        await self._stop_all([(f"processor/{pid}/{cid}", p) for pid, cid, p in self.processors
                              if pid not in stopped_pipes])  # fmt: skip
        await self._stop_all([(f"connector/{cid}", c) for cid, c in self.connectors.items()
                              if cid not in stopped_conns])  # fmt: skip
        keep = keep or {}
        await self._stop_all(
            [(f"exporter/{cid}", e) for cid, e in self.exporters.items() if keep.get(cid) is not e]
        )

    async def _stop_all(self, items: list[tuple[str, Component]]) -> None:
        async def stop(label: str, comp: Component) -> None:
            try:
                await comp.shutdown()
            except Exception:
                log.exception("component failed to shut down cleanly", extra={"component": label})
            self.states[label] = "stopped"

        await asyncio.gather(*(stop(label, comp) for label, comp in items))
