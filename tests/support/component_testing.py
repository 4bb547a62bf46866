"""Build a component from a plain config dict, as the agent would, and read its own metrics."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from edgetel.component import registry
from edgetel.component.factory import CreateContext
from edgetel.component.ids import ComponentID, Kind
from edgetel.component.lifecycle import Lifecycle
from edgetel.config.decode import decode
from edgetel.config.problems import Problems
from edgetel.pipeline.sockets import SocketPool
from edgetel.telemetry.selfmetrics import Registry

# Short retry intervals so retry tests take milliseconds.
FAST_RETRY = {"initial_interval": "50ms", "max_interval": "200ms", "max_elapsed_time": "5s"}


@dataclass
class Built:
    exporter: Any
    metrics: Registry
    config: Any
    lifecycle: Lifecycle

    def value(self, name: str, **labels: str) -> float:
        """The current value of one of the component's metrics, summed over matching labels (0 if unset)."""
        family = self.metrics._families.get(name)
        if family is None:
            return 0.0
        total = 0.0
        for key, child in family.children.items():
            got = dict(zip(family.labelnames, key, strict=True))
            if all(got.get(k) == v for k, v in labels.items()):
                total += child.value
        return total

    async def shutdown(self, deadline: float = 2.0) -> None:
        """Shut down with a short drain deadline (the agent's shutdown deadline)."""
        self.lifecycle.deadline = time.monotonic() + deadline
        await self.exporter.shutdown()


def config_problems(type_name: str, raw: dict[str, Any], kind: Kind = Kind.EXPORTER) -> list[str]:
    factory = registry.get(kind, type_name)
    assert factory is not None
    problems = Problems("test.yaml")
    decode(factory.config_type, raw, problems)
    return [f"{'.'.join(map(str, p.path))}: {p.message}" for p in problems.errors]


def build_exporter(type_name: str, raw: dict[str, Any], name: str = "") -> Built:
    factory = registry.get(Kind.EXPORTER, type_name)
    assert factory is not None, type_name
    problems = Problems("test.yaml")
    cfg = decode(factory.config_type, raw, problems)
    assert not problems.errors, problems.errors
    reg = Registry()
    lifecycle = Lifecycle()
    ctx = CreateContext(
        id=ComponentID(type_name, name),
        kind=Kind.EXPORTER,
        logger=logging.getLogger(f"test.{type_name}"),
        metrics=reg,
        sockets=SocketPool(),
        lifecycle=lifecycle,
    )
    return Built(factory.create(ctx, cfg), reg, cfg, lifecycle)
