"""The spanmetrics connector: exact calls and duration buckets from every span, whatever the sampling."""

from __future__ import annotations

import logging
import random
from typing import Any

from edgetel.component import registry
from edgetel.component.errors import RetryableError
from edgetel.component.factory import CreateContext
from edgetel.component.ids import ComponentID, Kind, Signal
from edgetel.component.lifecycle import Lifecycle
from edgetel.config.decode import decode
from edgetel.config.problems import Problems
from edgetel.pdata import Batch, Metrics
from edgetel.pipeline.sockets import SocketPool
from edgetel.telemetry.selfmetrics import Registry
from tests.tailsampling.helpers import batch, policy, span
from tests.tailsampling.helpers import build as build_sampler


class CollectMetrics:
    mutates = False

    def __init__(self, refuse: int = 0) -> None:
        self.batches: list[Metrics] = []
        self.refuse = refuse

    async def consume(self, b: Batch) -> None:
        if self.refuse:
            self.refuse -= 1
            raise RetryableError("busy")
        assert isinstance(b, Metrics)
        self.batches.append(b)

    def points(self, i: int = -1) -> dict[tuple[str, str, tuple[tuple[str, str], ...]], Any]:
        """(resource service, metric name, attributes) -> data point, of batch i."""
        out = {}
        for rm in self.batches[i].request.resource_metrics:
            svc = next(kv.value.string_value for kv in rm.resource.attributes if kv.key == "service.name")
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    for dp in getattr(m, kind).data_points:
                        attrs = tuple(sorted((kv.key, str(getattr(kv.value, kv.value.WhichOneof("value"))))
                                             for kv in dp.attributes))  # fmt: skip
                        out[(svc, m.name, attrs)] = dp
        return out


def make(raw: dict[str, Any], out: CollectMetrics | None = None, state: dict[str, Any] | None = None) -> Any:
    factory = registry.get(Kind.CONNECTOR, "spanmetrics")
    assert factory is not None and factory.emits == frozenset({Signal.METRICS})
    p = Problems("t.yaml")
    cfg = decode(factory.config_type, raw, p)
    assert not p.errors, p.errors
    ctx = CreateContext(id=ComponentID("spanmetrics"), kind=Kind.CONNECTOR, logger=logging.getLogger("t.sm"),
                        metrics=Registry(), sockets=SocketPool(), lifecycle=Lifecycle(), state=state if state is not None else {})  # fmt: skip
    out = out or CollectMetrics()
    return factory.create(ctx, cfg, {Signal.METRICS: out}), out, ctx


def attrs(**kv: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(kv.items()))


async def test_exact_counts_and_buckets_while_sampling_drops_99_percent() -> None:
    conn, out, _ = make({"histogram": {"explicit": {"buckets": ["10ms", "100ms", "1s"]}}})
    sampler = build_sampler({"policies": [policy("one", "probabilistic", sampling_percentage=1)]})
    rng = random.Random(3)
    want_calls: dict[tuple[str, str, int], int] = {}
    want_buckets: dict[tuple[str, str, int], list[int]] = {}
    total = 0
    for _ in range(10):
        spans = []
        for _ in range(500):
            svc, name = rng.choice([("web", "GET /"), ("web", "POST /pay"), ("db", "SELECT")])
            status = 2 if rng.random() < 0.05 else 0
            dur = rng.choice([5, 10, 50, 100, 500, 1000, 5000])  # ms, boundaries included
            spans.append(span(rng.getrandbits(128).to_bytes(16, "big"), 1, name=name, dur_ms=dur, status=status,
                              service=svc))  # fmt: skip
            key = (svc, name, status)
            want_calls[key] = want_calls.get(key, 0) + 1
            b = want_buckets.setdefault(key, [0, 0, 0, 0])
            b[0 if dur <= 10 else 1 if dur <= 100 else 2 if dur <= 1000 else 3] += 1
            total += 1
        t = batch(*spans)
        await conn.consume(t)  # the connector sees everything ...
        await sampler.proc.consume(t.copy())  # ... before the sampler drops ~99%
    await sampler.advance(11)
    kept = len(sampler.out.spans())
    assert 10 <= kept <= 110  # ~1% of 5000
    await conn.flush()
    points = out.points()
    code_names = {0: "STATUS_CODE_UNSET", 2: "STATUS_CODE_ERROR"}
    for (svc, name, status), n in want_calls.items():
        a = attrs(**{"service.name": svc, "span.name": name, "span.kind": "SPAN_KIND_SERVER",
                     "status.code": code_names[status]})  # fmt: skip
        calls = points[(svc, "traces.span.metrics.calls", a)]
        assert calls.as_int == n
        hist = points[(svc, "traces.span.metrics.duration", a)]
        assert list(hist.bucket_counts) == want_buckets[(svc, name, status)]
        assert list(hist.explicit_bounds) == [0.01, 0.1, 1.0] and hist.count == n
    assert sum(p.as_int for k, p in points.items() if k[1].endswith("calls")) == total
    m = out.batches[-1].request.resource_metrics[0].scope_metrics[0].metrics
    assert m[0].sum.is_monotonic and m[0].sum.aggregation_temporality == 2
    assert m[1].unit == "s" and m[1].histogram.aggregation_temporality == 2


async def test_cumulative_keeps_its_start_time_and_survives_a_reload() -> None:
    state: dict[str, Any] = {}
    conn, out, _ = make({}, state=state)
    await conn.consume(batch(span(1, 1, name="a")))
    await conn.flush()
    await conn.consume(batch(span(2, 1, name="a")))
    await conn.flush()
    p1, p2 = next(iter(out.points(0).values())), next(iter(out.points(1).values()))
    assert (p1.as_int, p2.as_int) == (1, 2) and p1.start_time_unix_nano == p2.start_time_unix_nano
    conn2, _, _ = make({}, out=out, state=state)  # a config reload with the same settings
    await conn2.consume(batch(span(3, 1, name="a")))
    await conn2.flush()
    p3 = next(iter(out.points(2).values()))
    assert p3.as_int == 3 and p3.start_time_unix_nano == p1.start_time_unix_nano


async def test_delta_resets_after_a_successful_flush_only() -> None:
    out = CollectMetrics(refuse=1)
    conn, out, _ = make({"aggregation_temporality": "AGGREGATION_TEMPORALITY_DELTA"}, out=out)
    await conn.consume(batch(span(1, 1)))
    await conn.flush()  # refused: nothing lost
    await conn.consume(batch(span(2, 1)))
    await conn.flush()
    assert next(iter(out.points(0).values())).as_int == 2
    await conn.consume(batch(span(3, 1)))
    await conn.flush()
    assert next(iter(out.points(1).values())).as_int == 1


async def test_dimensions_defaults_and_cardinality_limit() -> None:
    conn, out, ctx = make({"dimensions": [{"name": "http.route", "default": "unknown"}, {"name": "gen_ai.model"}],
                           "aggregation_cardinality_limit": 3, "histogram": {"unit": "ms"}})  # fmt: skip
    await conn.consume(batch(
        span(1, 1, name="GET", attrs={"http.route": "/a", "gen_ai.model": "m1"}),
        span(2, 1, name="GET", attrs={"http.route": "/a"}),
        span(3, 1, name="GET"),
        span(4, 1, name="GET", attrs={"http.route": "/b"}),
        span(5, 1, name="GET", attrs={"http.route": "/c"}),
    ))  # fmt: skip
    await conn.flush()
    pts = out.points()
    base = {"service.name": "svc", "span.name": "GET", "span.kind": "SPAN_KIND_SERVER",
            "status.code": "STATUS_CODE_UNSET"}  # fmt: skip
    assert pts[("svc", "traces.span.metrics.calls", attrs(**base, **{"http.route": "/a", "gen_ai.model": "m1"}))]
    assert pts[("svc", "traces.span.metrics.calls", attrs(**base, **{"http.route": "/a"}))].as_int == 1
    assert pts[("svc", "traces.span.metrics.calls", attrs(**base, **{"http.route": "unknown"}))].as_int == 1
    over = pts[("svc", "traces.span.metrics.calls", attrs(**{"service.name": "svc", "otel.metric.overflow": "True"}))]
    assert over.as_int == 2
    assert ctx.metrics.value("edgetel_spanmetrics_overflow_spans_total", "spanmetrics") == 2
    hist = pts[("svc", "traces.span.metrics.duration", attrs(**base, **{"http.route": "/a"}))]
    assert list(hist.explicit_bounds)[:2] == [2.0, 4.0]  # milliseconds


async def test_config_errors() -> None:
    factory = registry.get(Kind.CONNECTOR, "spanmetrics")
    assert factory is not None
    p = Problems("t.yaml")
    decode(factory.config_type, {"histogram": {"explicit": {"buckets": ["1s", "10ms"]}, "unit": "min"},
                                 "dimensions": [{"default": "x"}], "bogus": 1}, p)  # fmt: skip
    text = "\n".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in p.errors)
    assert "histogram.unit: must be one of s, ms" in text
    assert "histogram.explicit.buckets: must be strictly increasing" in text
    assert "dimensions.0.name: required" in text
    assert "bogus: unknown key" in text
