"""Shared helpers: the processor wired to a collecting consumer, the corpora, and batches that carry a value in
every place the processor must look."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from edgetel.component.factory import CreateContext
from edgetel.component.ids import ComponentID, Kind
from edgetel.component.lifecycle import Lifecycle
from edgetel.config.decode import decode
from edgetel.config.problems import Problems
from edgetel.pdata import Batch, Metrics, Traces
from edgetel.pipeline.sockets import SocketPool
from edgetel.processors.redaction.config import RedactionConfig
from edgetel.processors.redaction.factory import factory
from edgetel.processors.redaction.processor import RedactionProcessor
from edgetel.telemetry.selfmetrics import Registry

DATA = Path(__file__).parent / "data"

# The rules of the default agent.yaml (see docs/redaction.md).
DEFAULT_RULES: dict[str, Any] = {
    "allow_all_keys": True,
    "redact_all_types": True,
    "url_sanitizer": {"enabled": True},
    "db_sanitizer": {
        "sql": {"enabled": True},
        "redis": {"enabled": True},
        "valkey": {"enabled": True},
        "memcached": {"enabled": True},
        "mongo": {"enabled": True},
        "opensearch": {"enabled": True},
        "es": {"enabled": True},
    },
}


class Sink:
    mutates = False

    def __init__(self) -> None:
        self.batches: list[Batch] = []

    async def consume(self, batch: Batch) -> None:
        self.batches.append(batch)


def config(rules: dict[str, Any]) -> RedactionConfig:
    problems = Problems("test.yaml")
    cfg = decode(RedactionConfig, rules, problems)
    assert not problems.items, problems.items
    return cfg


def make(rules: dict[str, Any] | None = None) -> tuple[RedactionProcessor, Sink, Registry]:
    sink = Sink()
    registry = Registry()
    ctx = CreateContext(
        id=ComponentID("redaction"),
        kind=Kind.PROCESSOR,
        logger=logging.getLogger("test.redaction"),
        metrics=registry,
        sockets=SocketPool(),
        lifecycle=Lifecycle(),
    )
    proc = factory.create(ctx, config(DEFAULT_RULES if rules is None else rules), sink)
    assert isinstance(proc, RedactionProcessor)
    return proc, sink, registry


def run(proc: RedactionProcessor, batch: Batch) -> Batch:
    asyncio.run(proc.consume(batch))
    return batch


def load(name: str) -> list[dict[str, Any]]:
    lines = (DATA / name).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip() and not line.startswith("#")]


def set_value(v: Any, value: Any) -> None:
    """Set an AnyValue from a Python value (str, int, float, bool, bytes, list, dict)."""
    if isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, str):
        v.string_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, float):
        v.double_value = value
    elif isinstance(value, bytes):
        v.bytes_value = value
    elif isinstance(value, list):
        arr = v.array_value
        for item in value:
            set_value(arr.values.add(), item)
    else:
        kvl = v.kvlist_value
        for k, item in value.items():
            set_value(kvl.values.add(key=k).value, item)


def put(kvs: Any, key: str, value: Any) -> None:
    set_value(kvs.add(key=key).value, value)


def fill(kvs: Any, key: str | None, value: str) -> None:
    """Attributes carrying `value`: under its own key when bound to one; else as a plain string, inside an array,
    inside a kvlist and as bytes."""
    if key is not None:
        put(kvs, key, value)
        put(kvs, "service.name", "checkout")
        return
    put(kvs, "note", value)
    put(kvs, "tags", ["a", value])
    put(kvs, "details", {"inner": value, "deeper": {"list": [value]}})
    put(kvs, "raw", value.encode())
    put(kvs, "service.name", "checkout")


def traces_with(entries: list[dict[str, Any]]) -> Traces:
    """One resource per entry; the entry's value is in every place of it."""
    t = Traces()
    for n, e in enumerate(entries):
        key, value = e.get("key"), e["value"]
        rs = t.request.resource_spans.add()
        fill(rs.resource.attributes, key, value)
        ss = rs.scope_spans.add()
        ss.scope.name = "test.scope"
        fill(ss.scope.attributes, key, value)
        # ids whose hex form has no two digits in a row, so no secret made of digits can appear in them
        sp = ss.spans.add(trace_id=bytes([0xA0 | n % 16]) * 16, span_id=bytes([0xB0 | n % 16]) * 8)
        sp.name = value if key is None else "GET /api/items/{id}"
        fill(sp.attributes, key, value)
        ev = sp.events.add(name=value if key is None else "exception")
        if key is None:
            put(ev.attributes, "exception.message", value)
            put(ev.attributes, "exception.stacktrace", f"Traceback:\n  File x.py, line 3\nValueError: {value}")
        else:
            fill(ev.attributes, key, value)
        link = sp.links.add(trace_id=bytes([0xC2]) * 16, span_id=bytes([0xD3]) * 8)
        fill(link.attributes, key, value)
        if key is None:
            sp.status.code = 2
            sp.status.message = value
    return t


def metrics_with(entries: list[dict[str, Any]]) -> Metrics:
    """One resource per entry; the value in resource, scope, every point type's attributes and exemplars, and
    (when not bound to a key) the metric name."""
    m = Metrics()
    for e in entries:
        key, value = e.get("key"), e["value"]
        rm = m.request.resource_metrics.add()
        fill(rm.resource.attributes, key, value)
        sm = rm.scope_metrics.add()
        fill(sm.scope.attributes, key, value)
        g = sm.metrics.add(name=value if key is None else "requests")
        dp = g.gauge.data_points.add(as_double=1.0)
        fill(dp.attributes, key, value)
        fill(dp.exemplars.add(as_double=1.0).filtered_attributes, key, value)
        s = sm.metrics.add(name="sum")
        dp = s.sum.data_points.add(as_int=3)
        fill(dp.attributes, key, value)
        fill(dp.exemplars.add(as_int=1).filtered_attributes, key, value)
        h = sm.metrics.add(name="hist")
        hp = h.histogram.data_points.add(count=1, sum=1.0)
        fill(hp.attributes, key, value)
        fill(hp.exemplars.add(as_double=1.0).filtered_attributes, key, value)
        eh = sm.metrics.add(name="exphist")
        ep = eh.exponential_histogram.data_points.add(count=1)
        fill(ep.attributes, key, value)
        fill(ep.exemplars.add(as_double=1.0).filtered_attributes, key, value)
        su = sm.metrics.add(name="summary")
        fill(su.summary.data_points.add(count=1).attributes, key, value)
    return m
