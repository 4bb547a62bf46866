"""The component types this build has. Factories are imported lazily: a component's libraries load only
when a configuration uses it."""

from __future__ import annotations

import importlib
import importlib.util

from edgetel.component.factory import Factory
from edgetel.component.ids import Kind

# kind -> type -> module that defines `factory`
_MODULES: dict[Kind, dict[str, str]] = {
    Kind.RECEIVER: {
        "hostmetrics": "edgetel.receivers.hostmetrics.factory",
        "otlp": "edgetel.receivers.otlp.factory",
        "statsd": "edgetel.receivers.statsd.factory",
    },
    Kind.PROCESSOR: {
        "batch": "edgetel.processors.batch.factory",
        "memory_limiter": "edgetel.processors.memorylimiter.factory",
        "redaction": "edgetel.processors.redaction.factory",
        "tail_sampling": "edgetel.processors.tailsampling.factory",
    },
    Kind.EXPORTER: {
        "file": "edgetel.exporters.file.factory",
        "debug": "edgetel.exporters.debug.factory",
        "otlp": "edgetel.exporters.otlp.factory",
        "otlphttp": "edgetel.exporters.otlphttp.factory",
        "jaeger": "edgetel.exporters.jaeger.factory",
        "prometheusremotewrite": "edgetel.exporters.prometheusremotewrite.factory",
    },
    Kind.CONNECTOR: {"spanmetrics": "edgetel.connectors.spanmetrics.factory"},
}


def types_of(kind: Kind) -> list[str]:
    """The types of `kind` this build has (a planned module that is not present yet is left out)."""
    return sorted(t for t, m in _MODULES[kind].items() if _present(m))


def _present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def get(kind: Kind, type_name: str) -> Factory | None:
    module = _MODULES[kind].get(type_name)
    if module is None or type_name not in types_of(kind):
        return None
    factory = importlib.import_module(module).factory
    assert isinstance(factory, Factory)
    return factory


def all_factories() -> list[Factory]:
    out = []
    for kind in Kind:
        for name in types_of(kind):
            f = get(kind, name)
            if f is not None:
                out.append(f)
    return out


def register(kind: Kind, type_name: str, module: str) -> None:
    """Add a component type defined outside this package (used by tests and embedders)."""
    _MODULES[kind][type_name] = module
