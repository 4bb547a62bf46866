"""The status page (`/`) and its data (`/status.json`): pipelines as chains of components with their state,
counters by component (the page turns them into rates), drops by reason, queues and buffers, the last
problems. No build step and no external assets: one HTML file with inline CSS and JavaScript."""

from __future__ import annotations

import time
from importlib import resources
from typing import TYPE_CHECKING, Any

import orjson

from edgetel import __version__
from edgetel.admin.server import Response
from edgetel.telemetry import recent

if TYPE_CHECKING:
    from edgetel.agent import Agent

_ROLE_LABELS = ("receiver", "processor", "exporter", "connector")


def snapshot(agent: Agent) -> dict[str, Any]:
    """Everything the page shows, from the agent's config, component states and self metrics."""
    graph = agent.graph
    states = graph.states if graph is not None else {}
    by_component: dict[str, dict[str, float]] = {}
    for fam in agent.metrics._families.values():
        names = fam.labelnames
        role = next((r for r in _ROLE_LABELS if r in names), None)
        if role is None:
            continue
        idx = names.index(role)
        for labels, value in fam.samples():
            extra = ",".join(f"{n}={v}" for n, v in zip(names, labels, strict=True) if n != role and v)
            key = fam.name.removeprefix("edgetel_") + (f"{{{extra}}}" if extra else "")
            by_component.setdefault(f"{role}/{labels[idx]}", {})[key] = value
    def state(*keys: str) -> str:
        return next((states[k] for k in keys if k in states), "?")

    pipelines = []
    for pid, p in agent.config.pipelines.items():
        chain = [{"kind": "receiver", "id": str(c), "state": state(f"receiver/{c}", f"connector/{c}")}
                 for c in p.receivers]  # fmt: skip
        chain += [{"kind": "processor", "id": str(c), "state": state(f"processor/{pid}/{c}")} for c in p.processors]
        chain += [{"kind": "exporter", "id": str(c), "state": state(f"exporter/{c}", f"connector/{c}")}
                  for c in p.exporters]  # fmt: skip
        pipelines.append({"id": str(pid), "components": chain})
    proc = {name: agent.metrics.value(f"edgetel_process_{name}")
            for name in ("cpu_seconds_total", "resident_memory_bytes", "uptime_seconds")}  # fmt: skip
    return {
        "version": __version__,
        "time": time.time(),
        "config": agent.config.source,
        "ready": agent.ready and not agent.draining,
        "draining": agent.draining,
        "process": proc,
        "pipelines": pipelines,
        "components": by_component,
        "problems": list(recent.RECENT.items)[-20:],
    }


def install(agent: Agent) -> None:
    recent.install()
    page = resources.files("edgetel").joinpath("admin/static/status.html").read_bytes()

    async def index(_: str) -> Response:
        return Response(200, page, "text/html; charset=utf-8")

    async def status(_: str) -> Response:
        return Response(200, orjson.dumps(snapshot(agent)), "application/json")

    agent.admin.route("/", index)
    agent.admin.route("/status.json", status)
